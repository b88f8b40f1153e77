using System.Diagnostics;
using System.Net.Sockets;
using Dgram.Actors.Sockets;
using Dgram.Actors.Tests.Lab;
using Xunit;
using Xunit.Abstractions;

namespace Dgram.Actors.Tests.Sockets;

/// <summary>
/// A Unix socket's path under attack: a racer that swaps the freshly bound socket file for a symlink,
/// a hard link or another socket file must not get another file's mode changed; a directory anyone
/// may write without the sticky bit is refused; bind racing dispose leaves no file behind.
/// The tests run as root, so the racer is a thread of the same user in a private directory. The library
/// binds through a slow alias of that directory (<see cref="UnixFiles.SlowAlias"/>), so each of its path
/// lookups takes a fraction of a millisecond and a racer on the direct path lands inside the bind.
/// </summary>
[Trait("Area", "Security")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UnixPathSecurityTests : IDisposable
{
    /// <summary>A mode the umask (022) cuts down, so every bind must widen the file after creating it.</summary>
    private const UnixFileMode Shared = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead
        | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _dir = Directory.CreateTempSubdirectory("dgram-unix-race-").FullName;
    private readonly string _slowDir;
    private readonly ITestOutputHelper _output;

    public UnixPathSecurityTests(ITestOutputHelper output)
    {
        _output = output;
        _slowDir = UnixFiles.SlowAlias(_dir, "slow", links: 1);
    }

    /// <summary>The file <paramref name="name"/> in the test directory: the direct path and the slow one the library is given.</summary>
    private (string Direct, string Slow) FileIn(string name) => (Path.Combine(_dir, name), Path.Combine(_slowDir, name));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public enum Swap
    {
        SymlinkToAFile,
        HardLinkToAFile,
        AnotherUsersSocketFile,
        HardLinkToASocketFileOfOurs,
        AnotherSocketFileOfOurs,
    }

    /// <summary>Why a bind that found <paramref name="swap"/>'s file at its path refuses it: each check is met by one swap.</summary>
    private static string Refusal(Swap swap) => swap switch
    {
        Swap.SymlinkToAFile => "a symlink is at the path",
        Swap.HardLinkToAFile => "a file that is not a socket",
        Swap.AnotherUsersSocketFile => "belongs to uid 65534",
        Swap.HardLinkToASocketFileOfOurs => "has 2 links",
        _ => "another socket file", // one link, our own: only the inode the kernel bound tells it apart
    };

    [Theory]
    [InlineData(Swap.SymlinkToAFile)]
    [InlineData(Swap.HardLinkToAFile)]
    [InlineData(Swap.AnotherUsersSocketFile)]
    [InlineData(Swap.HardLinkToASocketFileOfOurs)]
    [InlineData(Swap.AnotherSocketFileOfOurs)]
    public void Bind_WhileARacerSwapsTheSocketFile_NeverChangesTheModeOfTheFileSwappedIn(Swap swap)
    {
        // Until the racer has swapped enough files (most land after the bind's checks, a few inside).
        const int enoughSwaps = 40, maxBinds = 300;
        var (path, slowPath) = FileIn("raced.sock");
        var options = new DatagramSocketOptions { UnixSocketMode = Shared };
        var outcomes = new Dictionary<string, int>();
        var clock = Stopwatch.StartNew();
        int binds = 0;
        using (var racer = new PathRacer(_dir, path, swap))
        {
            while (racer.Swaps < enoughSwaps && binds < maxBinds && clock.Elapsed < TimeSpan.FromSeconds(3))
            {
                binds++;
                UnixFiles.Unlink(path); // what the last swap left there
                using var s = DatagramSocket.Create(AddressFamily.Unix, options);
                string outcome = "bound";
                try
                {
                    s.Bind(new UnixDomainSocketEndPoint(slowPath));
                }
                catch (DatagramSocketException e)
                {
                    Assert.Equal("Bind", e.Operation);
                    Assert.Equal(slowPath, e.Arguments);
                    // A swap before the check (ELOOP: a symlink; EPERM: another file; ENOENT: the racer took the
                    // bind's file away), or a racer's file left at the path before the bind (EADDRINUSE).
                    Assert.Contains(e.ErrorName, new[] { "ELOOP", "EPERM", "ENOENT", "EADDRINUSE" });
                    if (e.ErrorName is "ELOOP" or "EPERM") Assert.Contains(Refusal(swap), e.Message);
                    outcome = e.ErrorName;
                    if (!outcomes.ContainsKey(outcome)) _output.WriteLine(e.Message);
                }
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
            racer.Stop();
            _output.WriteLine($"{swap}: {racer.Swaps} swaps in {binds} binds ({clock.ElapsedMilliseconds} ms); " +
                $"outcomes {string.Join(", ", outcomes.Select(o => $"{o.Key} {o.Value}"))}");
            Assert.True(racer.Swaps > 0, "the racer never swapped a socket file: the test raced nothing");
            foreach (var (file, mode) in racer.Victims)
            {
                Assert.True(file.Status.Mode == mode,
                    $"a file the racer swapped in ({swap}) had its mode changed from {Convert.ToString(mode, 8)} to {Convert.ToString(file.Status.Mode, 8)}");
            }
        }
    }

    [Fact]
    public void Bind_RacingDispose_LeavesNoSocketFile()
    {
        const int runs = 500;
        var (path, slowPath) = FileIn("disposed.sock");
        var endPoint = new UnixDomainSocketEndPoint(slowPath);
        DatagramSocket? current = null;
        int started = -1, disposed = -1;
        // Spin gates, not a Barrier: the dispose lands at a chosen point of the bind, not after a futex wake-up.
        var clock = Stopwatch.StartNew();
        var disposer = new Thread(() =>
        {
            for (int i = 0; i < runs; i++)
            {
                while (Volatile.Read(ref started) != i) Thread.SpinWait(1);
                // Land at different points of the bind: 0 to 0.5 ms after it starts.
                long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency * (i % 20) / 40_000;
                while (Stopwatch.GetTimestamp() < until) Thread.SpinWait(1);
                current!.Dispose();
                Volatile.Write(ref disposed, i);
            }
        }) { IsBackground = true };
        disposer.Start();

        int leftovers = 0, bound = 0;
        for (int i = 0; i < runs; i++)
        {
            current = DatagramSocket.Create(AddressFamily.Unix);
            Volatile.Write(ref started, i);
            try
            {
                current.Bind(endPoint);
                bound++;
            }
            catch (DatagramSocketException e) when (e.Error == DatagramSocketError.Closed)
            {
            }
            var spin = new SpinWait(); // no hurry here, and the disposer may need this core
            while (Volatile.Read(ref disposed) != i) spin.SpinOnce(sleep1Threshold: -1);
            if (UnixFiles.Stat(path) is not null)
            {
                leftovers++;
                UnixFiles.Unlink(path);
            }
        }
        disposer.Join();
        _output.WriteLine($"{runs} runs in {clock.ElapsedMilliseconds} ms: {bound} binds returned, {runs - bound} refused as closed, {leftovers} socket files left behind");
        Assert.Equal(0, leftovers);
    }

    [Fact]
    public void Bind_NeverShowsTheFileWiderThanAsked()
    {
        // The process umask (022) alone would create the file 0755; a peer that connects in that window
        // stays connected after a later chmod.
        const int binds = 100;
        var (path, slowPath) = FileIn("watched.sock");
        var widest = new HashSet<int>();
        int seen = 0;
        using var stop = new ManualResetEventSlim();
        var watcher = new Thread(() =>
        {
            while (!stop.IsSet)
            {
                if (UnixFiles.Stat(path) is { IsSocket: true } st)
                {
                    seen++;
                    if ((st.Mode & ~(int)OwnerOnly) != 0) lock (widest) widest.Add(st.Mode);
                }
            }
        }) { IsBackground = true };
        watcher.Start();
        var options = new DatagramSocketOptions { UnixSocketMode = OwnerOnly };
        for (int i = 0; i < binds; i++)
        {
            using var s = DatagramSocket.Create(AddressFamily.Unix, options);
            s.Bind(new UnixDomainSocketEndPoint(slowPath));
        }
        stop.Set();
        watcher.Join();
        _output.WriteLine($"{binds} binds, the file seen {seen} times, wider modes seen: {string.Join(", ", widest.Select(m => Convert.ToString(m, 8)))}");
        Assert.Empty(widest);
    }

    [Fact]
    public void Bind_InADirectoryEveryoneMayWriteWithoutTheStickyBit_IsRefused_AndChangesNothing()
    {
        string dir = Path.Combine(_dir, "shared");
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_111_111); // 0777: anyone may replace the file
        string path = Path.Combine(dir, "s.sock");
        var options = new DatagramSocketOptions { UnixSocketMode = Shared };
        using var s = DatagramSocket.Create(AddressFamily.Unix, options);

        var e = Assert.Throws<DatagramSocketException>(() => s.Bind(new UnixDomainSocketEndPoint(path)));
        Assert.Equal(("Bind", DatagramSocketError.UnsafePath, "EPERM", path), (e.Operation, e.Error, e.ErrorName, e.Arguments));
        Assert.Contains(dir, e.Message);
        Assert.Contains("sticky", e.Message);
        Assert.Null(UnixFiles.Stat(path));
        Assert.False(s.IsClosed);

        // Nothing changed: the same socket binds once only the owner may remove its file (01777, like /tmp).
        File.SetUnixFileMode(dir, (UnixFileMode)0b1_111_111_111);
        s.Bind(new UnixDomainSocketEndPoint(path));
        Assert.Equal(Shared, File.GetUnixFileMode(path));

        // A group-writable directory is how a service shares its socket with a group: accepted.
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_111_000);
        using var grouped = DatagramSocket.Create(AddressFamily.Unix, options);
        grouped.Bind(new UnixDomainSocketEndPoint(Path.Combine(dir, "g.sock")));
        Assert.Equal(Shared, File.GetUnixFileMode(Path.Combine(dir, "g.sock")));
    }

    /// <summary>
    /// A thread that waits for a socket file at <c>path</c> and atomically exchanges its prepared file
    /// with it: a symlink or hard link to a 0644 file, or a 0604 socket file (another user's, a second
    /// link to one of ours, or one of ours moved in).
    /// Each file it swaps in stays pinned, so its mode can be read back wherever it went.
    /// </summary>
    private sealed class PathRacer : IDisposable
    {
        private const int FileMode = 0b110_100_100, SocketMode = 0b110_000_100; // 0644, 0604
        private const uint Nobody = 65534;

        private readonly string _dir, _path, _staged;
        private readonly Swap _swap;
        private readonly string _target;
        private readonly HashSet<ulong> _ownInodes = [];
        private readonly List<(UnixFiles.Pinned File, int Mode)> _victims = [];
        private readonly Thread _thread;
        private volatile bool _stop;
        private Exception? _failure;
        private int _made, _swaps;

        public PathRacer(string dir, string path, Swap swap)
        {
            (_dir, _path, _swap) = (dir, path, swap);
            _staged = Path.Combine(dir, "staged");
            _target = Path.Combine(dir, "victim.txt");
            File.WriteAllText(_target, "not a socket");
            File.SetUnixFileMode(_target, (UnixFileMode)FileMode);
            if (swap is Swap.SymlinkToAFile or Swap.HardLinkToAFile) _victims.Add((UnixFiles.Pin(_target), FileMode));
            Stage();
            _thread = new Thread(Run) { IsBackground = true };
            _thread.Start();
        }

        public int Swaps => Volatile.Read(ref _swaps);

        public IReadOnlyList<(UnixFiles.Pinned File, int Mode)> Victims => _victims;

        /// <summary>Stops the racer; rethrows what made it fail, if anything did.</summary>
        public void Stop()
        {
            _stop = true;
            _thread.Join();
            if (_failure is not null) throw new InvalidOperationException("the racer failed", _failure);
        }

        public void Dispose()
        {
            _stop = true;
            _thread.Join();
            foreach (var (file, _) in _victims) file.Dispose();
        }

        private void Run()
        {
            try
            {
                Race();
            }
            catch (Exception e)
            {
                _failure = e; // an exception on this thread would end the test host
            }
        }

        private void Race()
        {
            while (!_stop)
            {
                // One syscall from "the file is there" to "it is swapped": no stat-then-rename gap.
                if (!UnixFiles.TryExchange(_staged, _path)) continue;
                if (UnixFiles.Stat(_staged) is { IsSocket: true } st && !_ownInodes.Contains(st.Inode))
                {
                    Interlocked.Increment(ref _swaps);
                    UnixFiles.Unlink(_staged); // the bind's file, now out of the way
                    Stage();
                }
                // Otherwise one of the racer's own files came back from the path: it stays staged.
            }
        }

        /// <summary>Prepares the next file to swap in at <see cref="_staged"/>.</summary>
        private void Stage()
        {
            switch (_swap)
            {
                case Swap.SymlinkToAFile:
                    UnixFiles.Symlink(_target, _staged);
                    break;
                case Swap.HardLinkToAFile:
                    UnixFiles.HardLink(_target, _staged);
                    break;
                default:
                    // A socket file made elsewhere and moved (or linked) in.
                    string made = Path.Combine(_dir, $"made-{_made++}.sock");
                    UnixFiles.MakeStaleSocket(made);
                    File.SetUnixFileMode(made, (UnixFileMode)SocketMode);
                    if (_swap == Swap.AnotherUsersSocketFile) UnixFiles.Chown(made, Nobody, Nobody);
                    var pinned = UnixFiles.Pin(made);
                    _ownInodes.Add(pinned.Status.Inode);
                    _victims.Add((pinned, SocketMode));
                    if (_swap == Swap.HardLinkToASocketFileOfOurs) UnixFiles.HardLink(made, _staged);
                    else if (!UnixFiles.TryRename(made, _staged)) throw new InvalidOperationException("could not stage a socket file");
                    break;
            }
        }
    }
}
