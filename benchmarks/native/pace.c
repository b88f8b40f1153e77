// The benchmark's sender: datagrams of one size at an exact offered rate, paced by a token bucket,
// in calls of up to 64 datagrams (UDP GSO by default; sendmmsg or sendto to compare), IPv4 or IPv6,
// unicast or multicast out of a named interface. Prints what it sent and the CPU it used.
//
// usage: pace --dest ADDR --port P --size B --seconds S [--rate N] [--mode gso|sendmmsg|sendto]
//             [--dests N] [--source ADDR] [--iface NAME] [--ttl N] [--tick-us U] [--stamp]
//   --rate N      datagrams/s offered (0 or absent: as fast as the kernel accepts)
//   --dests N     round-robin over N destinations: port P+i, and ADDR+i when ADDR is multicast
//   --source ADDR bind to this source address (port 0): source-specific receivers filter on it
//   --iface NAME  multicast out of NAME (loop off, so only the copy that crosses the link counts)
//   --ttl N       with --iface, the multicast TTL (default 1: the segment only; a router forwards TTL >= 2)
//   --tick-us U   wake up every U µs and send all that is due in calls of up to 64 (default: wake when a
//                 whole call's worth is due)
//   --stamp       bytes 8-15 of each datagram carry its send time (CLOCK_MONOTONIC ns, read just before the
//                 send call) for sink --latency; bytes 0-7 are the sequence number, as always
// output (one line): sent=N calls=N seconds=S offered_rate=R cpu_us=U errors=N
//   sent counts datagrams the kernel accepted; cpu_us is this process's user + system time.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define MAX_CALL 64
#define MAX_DESTS 1024

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static double cpu_us(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static void sleep_until(double t) {
    struct timespec ts = { .tv_sec = (time_t)t, .tv_nsec = (long)((t - (time_t)t) * 1e9) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) { }
}

static void die(const char *what) { fprintf(stderr, "pace: %s: %s\n", what, strerror(errno)); exit(1); }
static void usage(void) {
    fprintf(stderr, "usage: pace --dest ADDR --port P --size B --seconds S [--rate N] [--mode gso|sendmmsg|sendto] "
                    "[--dests N] [--source ADDR] [--iface NAME] [--ttl N] [--tick-us U] [--stamp]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *dest = NULL, *source = NULL, *iface = NULL, *mode = "gso";
    int port = 0, size = 0, dests = 1, ttl = 1, stamp = 0;
    double seconds = 0, rate = 0, tick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stamp")) { stamp = 1; continue; }
        if (i + 1 >= argc) usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--dest")) dest = v;
        else if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--size")) size = atoi(v);
        else if (!strcmp(k, "--seconds")) seconds = atof(v);
        else if (!strcmp(k, "--rate")) rate = atof(v);
        else if (!strcmp(k, "--mode")) mode = v;
        else if (!strcmp(k, "--dests")) dests = atoi(v);
        else if (!strcmp(k, "--source")) source = v;
        else if (!strcmp(k, "--iface")) iface = v;
        else if (!strcmp(k, "--ttl")) ttl = atoi(v);
        else if (!strcmp(k, "--tick-us")) tick = atof(v) / 1e6;
        else usage();
    }
    int gso = !strcmp(mode, "gso"), mmsg = !strcmp(mode, "sendmmsg"), single = !strcmp(mode, "sendto");
    if (!dest || port <= 0 || port > 65535 || size < 1 || size > 65000 || seconds <= 0 || rate < 0 || dests < 1 ||
        dests > MAX_DESTS || port + dests - 1 > 65535 || !(gso || mmsg || single) || ttl < 1 || ttl > 255 ||
        (stamp && size < 16))
        usage();

    // Destinations: ADDR (+i when multicast), port P+i.
    static struct sockaddr_storage to[MAX_DESTS];
    socklen_t tolen;
    int family;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, dest, &a4) == 1) family = AF_INET;
    else if (inet_pton(AF_INET6, dest, &a6) == 1) family = AF_INET6;
    else { fprintf(stderr, "pace: bad address %s\n", dest); return 2; }
    for (int i = 0; i < dests; i++) {
        memset(&to[i], 0, sizeof to[i]);
        if (family == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)&to[i];
            s->sin_family = AF_INET;
            s->sin_port = htons(port + i);
            s->sin_addr = a4;
            if (IN_MULTICAST(ntohl(a4.s_addr))) s->sin_addr.s_addr = htonl(ntohl(a4.s_addr) + i);
        } else {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&to[i];
            s->sin6_family = AF_INET6;
            s->sin6_port = htons(port + i);
            s->sin6_addr = a6;
            if (IN6_IS_ADDR_MULTICAST(&a6)) {
                uint16_t last = (uint16_t)((a6.s6_addr[14] << 8 | a6.s6_addr[15]) + i);
                s->sin6_addr.s6_addr[14] = last >> 8;
                s->sin6_addr.s6_addr[15] = last & 0xff;
            }
        }
    }
    tolen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (source) {
        struct sockaddr_storage me = { 0 };
        if (family == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)&me;
            s->sin_family = AF_INET;
            if (inet_pton(AF_INET, source, &s->sin_addr) != 1) { fprintf(stderr, "pace: bad source %s\n", source); return 2; }
        } else {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&me;
            s->sin6_family = AF_INET6;
            if (inet_pton(AF_INET6, source, &s->sin6_addr) != 1) { fprintf(stderr, "pace: bad source %s\n", source); return 2; }
        }
        if (bind(fd, (struct sockaddr *)&me, tolen) != 0) die("bind --source");
    }
    if (iface) {
        int index = (int)if_nametoindex(iface), off = 0;
        if (index == 0) die("--iface");
        if (family == AF_INET) {
            struct ip_mreqn m = { .imr_ifindex = index };
            if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0) die("IP_MULTICAST_IF");
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof off);
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
        } else {
            if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index) != 0) die("IPV6_MULTICAST_IF");
            setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off, sizeof off);
            setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof ttl);
        }
    }
    // Precise wake-ups: the default 50 µs timer slack would stretch every sleep.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    // One call carries up to 64 datagrams; a GSO call is one buffer of at most ~64 KiB.
    int per_call = single ? 1 : MAX_CALL;
    if (gso && per_call * size > 65000) per_call = 65000 / size;
    if (per_call < 1) per_call = 1;
    static char buf[MAX_CALL * 65536];
    memset(buf, 0x5a, (size_t)per_call * size);
    if (gso) {
        int seg = size;
        if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) != 0) die("UDP_SEGMENT");
    }
    struct iovec iov[MAX_CALL];
    struct mmsghdr msgs[MAX_CALL];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < MAX_CALL; i++) {
        iov[i].iov_base = buf + (size_t)i * size;
        iov[i].iov_len = size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_namelen = tolen;
    }
    struct iovec whole = { .iov_base = buf, .iov_len = (size_t)per_call * size };

    // Token bucket: tokens accrue at the rate and are spent a call at a time; the bucket holds at most
    // 2 ms of tokens (at least two calls), so a sender that falls behind offers less, and says so. With a
    // tick, 10 ms (as Dgram.Bench's .NET senders): a late wake-up catches up instead of losing its tokens.
    double depth = rate * (tick > 0 ? 0.01 : 0.002);
    if (depth < 2 * per_call) depth = 2 * per_call;
    long long sent = 0, calls = 0, errors = 0, seq = 0;
    double cpu0 = cpu_us(), start = now(), end = start + seconds, last = start, tokens = per_call;
    int d = 0;
    for (;;) {
        double t = now();
        if (t >= end) break;
        if (rate > 0) {
            tokens += (t - last) * rate;
            if (tokens > depth) tokens = depth;
            last = t;
            // Without a tick, wait for a whole call's worth; with one, each wake-up sends all that is due.
            if (tokens < (tick > 0 ? 1 : per_call)) {
                double wake = tick > 0 ? t + tick : t + (per_call - tokens) / rate;
                sleep_until(wake < end ? wake : end);
                continue;
            }
        }
        int n = rate > 0 && tokens < per_call ? (int)tokens : per_call;
        for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * size, &(long long){ seq + i }, size >= 8 ? 8 : size);
        if (stamp) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            long long ns = ts.tv_sec * 1000000000LL + ts.tv_nsec;
            for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * size + 8, &ns, 8);
        }
        struct sockaddr *dst = (struct sockaddr *)&to[d];
        int ok;
        if (gso) {
            struct msghdr m = { .msg_name = dst, .msg_namelen = tolen, .msg_iov = &whole, .msg_iovlen = 1 };
            whole.iov_len = (size_t)n * size;
            ok = sendmsg(fd, &m, 0) >= 0 ? n : -1;
        } else if (mmsg) {
            for (int i = 0; i < n; i++) msgs[i].msg_hdr.msg_name = dst;
            ok = sendmmsg(fd, msgs, n, 0);
        } else {
            ok = sendto(fd, buf, size, 0, dst, tolen) >= 0 ? 1 : -1;
        }
        if (ok > 0) {
            calls++;
            sent += ok;
            seq += ok;
        } else {
            errors++;
        }
        if (rate > 0) tokens -= n;
        if (++d == dests) d = 0;
    }
    double elapsed = now() - start;
    printf("sent=%lld calls=%lld seconds=%.6f offered_rate=%.0f cpu_us=%.0f errors=%lld\n",
           sent, calls, elapsed, sent / elapsed, cpu_us() - cpu0, errors);
    return 0;
}
