using System.Reflection;
using PublicApiGenerator;
using Xunit;

namespace Dgram.Actors.Tests.Docs;

/// <summary>
/// The public surface of each package, pinned (issue 15, item 10): any change to it, on purpose or by
/// accident, fails here and shows in review as a diff of <c>PublicApi/NAME.approved.txt</c>. To accept a
/// change, copy the <c>.received.txt</c> this test writes beside the approved file over it, and commit it.
/// </summary>
public sealed class PublicApiTests
{
    public static TheoryData<string> Packages() => ["Dgram.Actors", "Dgram.Rx", "Dgram.Cluster"];

    [Theory]
    [MemberData(nameof(Packages))]
    public void PublicApi_IsTheApprovedOne(string package)
    {
        string dir = Path.Combine(ReadmeTests.RepositoryRoot(), "tests", "Dgram.Actors.Tests", "PublicApi");
        string approvedPath = Path.Combine(dir, package + ".approved.txt"), receivedPath = Path.Combine(dir, package + ".received.txt");
        string received = Normalize(Assembly.Load(package).GeneratePublicApi(new ApiGeneratorOptions
        {
            // The attributes the compiler and the build stamp on every assembly say nothing about the API.
            ExcludeAttributes = ["System.Runtime.Versioning.TargetFrameworkAttribute", "System.Reflection.AssemblyMetadataAttribute"],
        }));
        string approved = File.Exists(approvedPath) ? Normalize(File.ReadAllText(approvedPath)) : "";
        if (received == approved)
        {
            File.Delete(receivedPath);
            return;
        }
        Directory.CreateDirectory(dir);
        File.WriteAllText(receivedPath, received);
        Assert.Fail($"the public API of {package} changed: diff {approvedPath} {receivedPath}; if the change is meant, copy the received file over the approved one");
    }

    private static string Normalize(string api) => api.Replace("\r\n", "\n").TrimEnd() + "\n";
}
