using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace Dgram.Actors.Tests.Docs;

/// <summary>
/// Every C# block in README.md compiles as written (issue 15, item 2): a newcomer pastes them. A block is a
/// whole file (its <c>using</c> lines, then top-level statements or types) compiled on its own against the
/// library, its packages and the implicit usings of <c>dotnet new console</c> (a program when it has top-level
/// statements, else a library). A block marked
/// <c>&lt;!-- readme: fragment --&gt;</c> on the line above its fence is statements: its <c>using</c> lines are
/// kept at the top and the rest goes into an async method body, so it must define every name it uses.
/// Errors fail; warnings are reported in the message only when the block also has errors.
/// </summary>
public sealed partial class ReadmeTests
{
    /// <summary>The global usings of a .NET 10 console project (ImplicitUsings=enable).</summary>
    private const string ImplicitUsings = """
        global using global::System;
        global using global::System.Collections.Generic;
        global using global::System.IO;
        global using global::System.Linq;
        global using global::System.Net.Http;
        global using global::System.Threading;
        global using global::System.Threading.Tasks;
        """;

    public sealed record Block(int Line, string Code, bool Fragment)
    {
        public override string ToString() => $"README.md:{Line}";
    }

    public static TheoryData<Block> Blocks()
    {
        var data = new TheoryData<Block>();
        foreach (Block b in Extract(File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md")))) data.Add(b);
        return data;
    }

    [Fact]
    public void Readme_HasCSharpBlocks()
    {
        // The extraction itself: a README whose fences changed shape must not make the theory below vacuous.
        Assert.True(Blocks().Count >= 3, $"found only {Blocks().Count} C# blocks in README.md");
    }

    [Fact]
    public void Extract_FindsFencesAndFragmentMarks()
    {
        const string md = "text\n```csharp\nvar a = 1;\n```\n<!-- readme: fragment -->\n```csharp\nb();\n```\n```json\n{}\n```\n";
        Block[] blocks = [.. Extract(md)];
        Assert.Equal([new Block(3, "var a = 1;\n", false), new Block(7, "b();\n", true)], blocks);
    }

    [Fact]
    public void Compile_ABlockWithAnUndefinedName_Fails()
    {
        // The check can fail: a block that uses a name nobody defined (README's old `myActor`) does not compile.
        IReadOnlyList<Diagnostic> errors = Compile(new Block(1, "using Dgram.Actors.Client;\nawait myClient.StopAsync();\n", false));
        Assert.Contains(errors, d => d.Id == "CS0103");
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Readme_CSharpBlock_Compiles(Block block)
    {
        IReadOnlyList<Diagnostic> errors = Compile(block);
        Assert.True(errors.Count == 0, $"{block} does not compile:\n" + string.Join("\n", errors.Select(e => e.ToString())) + "\n---\n" + block.Code);
    }

    private static IReadOnlyList<Diagnostic> Compile(Block block)
    {
        string source = block.Fragment ? Wrap(block.Code) : block.Code;
        SyntaxTree code = CSharpSyntaxTree.ParseText(source, Parse, $"README.md:{block.Line}");
        // A block with top-level statements is a program; one that only declares types is a library.
        bool program = code.GetRoot().DescendantNodes().OfType<GlobalStatementSyntax>().Any();
        SyntaxTree[] trees = [CSharpSyntaxTree.ParseText(ImplicitUsings, Parse, "Implicit.cs"), code];
        var compilation = CSharpCompilation.Create("Readme" + block.Line, trees, References.Value,
            new CSharpCompilationOptions(program ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable));
        using var pe = new MemoryStream();
        return [.. compilation.Emit(pe).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)];
    }

    private static readonly CSharpParseOptions Parse = new(LanguageVersion.Latest);

    /// <summary>Usings stay on top; the statements become the body of an async method.</summary>
    private static string Wrap(string code)
    {
        var usings = new StringBuilder();
        var body = new StringBuilder();
        foreach (string line in code.Split('\n'))
        {
            (UsingLine().IsMatch(line) ? usings : body).Append(line).Append('\n');
        }
        return $"{usings}\ninternal static class ReadmeFragment\n{{\n    internal static async Task Run()\n    {{\n{body}\n        await Task.CompletedTask;\n    }}\n}}\n";
    }

    [GeneratedRegex(@"^using\s+[\w.=\s]+;\s*$")]
    private static partial Regex UsingLine();

    /// <summary>The ```csharp fences of a Markdown text, with the line of their first code line.</summary>
    internal static IEnumerable<Block> Extract(string markdown)
    {
        string[] lines = markdown.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() is not ("```csharp" or "```cs" or "```c#")) continue;
            bool fragment = i > 0 && lines[i - 1].Trim() == "<!-- readme: fragment -->";
            int first = i + 2; // 1-based, the line after the fence
            var code = new StringBuilder();
            for (i++; i < lines.Length && lines[i].Trim() != "```"; i++) code.Append(lines[i]).Append('\n');
            if (i == lines.Length) throw new InvalidDataException($"README.md:{first}: a ```csharp fence is never closed");
            yield return new Block(first, code.ToString(), fragment);
        }
    }

    /// <summary>The runtime's own assemblies and every assembly beside the tests (the library and its packages).</summary>
    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        // One reference per assembly name: the runtime's copy wins over a package's.
        var byName = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string dll in ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
        {
            byName.TryAdd(Path.GetFileNameWithoutExtension(dll), dll);
        }
        foreach (string dll in Directory.GetFiles(AppContext.BaseDirectory, "*.dll").Order(StringComparer.Ordinal))
        {
            if (Path.GetFileName(dll).StartsWith("Dgram.Actors.Tests", StringComparison.Ordinal)) continue;
            try
            {
                AssemblyName.GetAssemblyName(dll);
                byName.TryAdd(Path.GetFileNameWithoutExtension(dll), dll);
            }
            catch (BadImageFormatException)
            {
                // a native library beside the managed ones
            }
        }
        return [.. byName.Values.Select(p => MetadataReference.CreateFromFile(p))];
    });

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dgram.Actors.sln"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException($"no Dgram.Actors.sln above {AppContext.BaseDirectory}");
    }
}
