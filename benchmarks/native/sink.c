// The benchmark's C receiver, the physical reference: recvmmsg (64 per call) or recvfrom on one socket,
// unicast or joined to a group (source-specific when --source is given) on a named interface; or an
// echo that sends each datagram back (round trips). IPv4 or IPv6, from the bind address.
//
// usage: sink --bind ADDR --port P [--mode recvmmsg|recvfrom|echo] [--group G [--source S] --iface NAME] [--rcvbuf B]
//             [--latency]
// Protocol (the same as Dgram.Bench's receive mode): prints "ready rcvbuf=B" (the effective SO_RCVBUF),
// then answers each "mark" line on stdin with "count=N dropped=0 cpu_us=U" (datagrams so far, this
// process's user + system CPU); exits at "quit" or end of input.
// --latency: each datagram's one-way latency, its arrival (CLOCK_MONOTONIC read when the receive call
// returns) minus the send time pace --stamp wrote into it (every network namespace shares that clock), goes
// into a histogram (~0.2 % resolution), never printed per datagram; each mark reply then adds
// "lat_n=N p50_us=X p99_us=Y max_us=Z" over the datagrams received since the previous mark.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static long long count;
static int latency;

// Latency histogram in ns, log-linear: values below 1024 exactly, above that 512 buckets per power of two.
// The receive loop only increments; the mark thread reports the difference from the previous mark's copy,
// so neither stops the other. A sequence number (odd while the receive loop updates the histogram and the
// count) lets a mark take the count and the histogram of the same datagrams.
#define SUB 512
#define BUCKETS (2 * SUB + 54 * SUB)
static long long hist[BUCKETS], seen[BUCKETS], copy[BUCKETS];
static unsigned long updates;

static int bucket(long long ns) {
    if (ns < 2 * SUB) return ns < 0 ? 0 : (int)ns;
    int e = 63 - __builtin_clzll((unsigned long long)ns) - 9; // ns >> e is in [512, 1024)
    return 2 * SUB + (e - 1) * SUB + (int)((ns >> e) - SUB);
}

static double bucket_ns(int b) { // the bucket's upper edge
    if (b < 2 * SUB) return b;
    int e = (b - 2 * SUB) / SUB + 1;
    return (double)((long long)((b - 2 * SUB) % SUB + SUB + 1) << e) - 1;
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void record(const char *payload, ssize_t len, long long arrival) {
    if (len < 16) return;
    long long sent;
    memcpy(&sent, payload + 8, 8);
    int b = bucket(arrival - sent);
    __atomic_store_n(&hist[b], hist[b] + 1, __ATOMIC_RELAXED); // the receive loop is the only writer
}

// Counts n datagrams (their latencies first, with --latency) as one update a mark never sees half done.
static void counted(int n, char (*payload)[65536], const struct mmsghdr *msgs, ssize_t len) {
    if (!latency) {
        __atomic_store_n(&count, count + n, __ATOMIC_RELAXED);
        return;
    }
    long long arrival = now_ns();
    __atomic_store_n(&updates, updates + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (int i = 0; i < n; i++) record(payload[i], msgs ? (ssize_t)msgs[i].msg_len : len, arrival);
    __atomic_store_n(&count, count + n, __ATOMIC_RELAXED);
    __atomic_store_n(&updates, updates + 1, __ATOMIC_RELEASE);
}

// The count and a copy of the histogram, taken between two updates of the receive loop.
static long long count_with_histogram(void) {
    for (;;) {
        unsigned long before = __atomic_load_n(&updates, __ATOMIC_ACQUIRE);
        if (before & 1) { sched_yield(); continue; }
        long long n = __atomic_load_n(&count, __ATOMIC_RELAXED);
        for (int b = 0; b < BUCKETS; b++) copy[b] = __atomic_load_n(&hist[b], __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&updates, __ATOMIC_RELAXED) == before) return n;
    }
}

// " lat_n=N p50_us=X p99_us=Y max_us=Z" over the copy's datagrams since the previous copy, into out.
static void latency_since_last(char *out, size_t size) {
    static long long delta[BUCKETS];
    long long n = 0;
    for (int b = 0; b < BUCKETS; b++) {
        delta[b] = copy[b] - seen[b];
        seen[b] = copy[b];
        n += delta[b];
    }
    double q[3] = { 0.5, 0.99, 1.0 }, at[3] = { 0, 0, 0 };
    long long sum = 0;
    int k = 0;
    for (int b = 0; b < BUCKETS && k < 3 && n > 0; b++) {
        sum += delta[b];
        while (k < 3 && sum >= q[k] * n) at[k++] = bucket_ns(b);
    }
    snprintf(out, size, " lat_n=%lld p50_us=%.1f p99_us=%.1f max_us=%.1f", n, at[0] / 1e3, at[1] / 1e3, at[2] / 1e3);
}


static double cpu_us(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static void die(const char *what) { fprintf(stderr, "sink: %s: %s\n", what, strerror(errno)); exit(1); }
static void usage(void) {
    fprintf(stderr, "usage: sink --bind ADDR --port P [--mode recvmmsg|recvfrom|echo] [--group G [--source S] --iface NAME] [--rcvbuf B] [--latency]\n");
    exit(2);
}

static int parse(const char *text, int port, struct sockaddr_storage *out) {
    memset(out, 0, sizeof *out);
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    struct sockaddr_in6 *b = (struct sockaddr_in6 *)out;
    if (inet_pton(AF_INET, text, &a->sin_addr) == 1) { a->sin_family = AF_INET; a->sin_port = htons(port); return AF_INET; }
    if (inet_pton(AF_INET6, text, &b->sin6_addr) == 1) { b->sin6_family = AF_INET6; b->sin6_port = htons(port); return AF_INET6; }
    fprintf(stderr, "sink: bad address %s\n", text);
    exit(2);
}

static void *marks(void *arg) {
    (void)arg;
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "quit", 4)) break;
        if (!strncmp(line, "mark", 4)) {
            long long n = latency ? count_with_histogram() : __atomic_load_n(&count, __ATOMIC_RELAXED);
            char lat[128] = "";
            if (latency) latency_since_last(lat, sizeof lat);
            printf("count=%lld dropped=0 cpu_us=%.0f%s\n", n, cpu_us(), lat);
            fflush(stdout);
        }
    }
    exit(0);
}

int main(int argc, char **argv) {
    const char *bind_to = NULL, *group = NULL, *source = NULL, *iface = NULL, *mode = "recvmmsg";
    int port = 0, rcvbuf = 4 << 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--latency")) { latency = 1; continue; }
        if (i + 1 >= argc) usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--bind")) bind_to = v;
        else if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--mode")) mode = v;
        else if (!strcmp(k, "--group")) group = v;
        else if (!strcmp(k, "--source")) source = v;
        else if (!strcmp(k, "--iface")) iface = v;
        else if (!strcmp(k, "--rcvbuf")) rcvbuf = atoi(v);
        else usage();
    }
    int mm = !strcmp(mode, "recvmmsg"), echo = !strcmp(mode, "echo");
    if (!bind_to || port <= 0 || port > 65535 || (!mm && !echo && strcmp(mode, "recvfrom")) || (group && !iface) || (source && !group)) usage();

    struct sockaddr_storage me;
    int family = parse(bind_to, port, &me);
    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0) die("SO_RCVBUF");
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, (struct sockaddr *)&me, len) != 0) die("bind");
    if (group) {
        // MCAST_JOIN_(SOURCE_)GROUP name the interface by index and work for both families.
        int level = family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
        unsigned index = if_nametoindex(iface);
        if (index == 0) die("--iface");
        if (source) {
            struct group_source_req r = { .gsr_interface = index };
            parse(group, 0, &r.gsr_group);
            parse(source, 0, &r.gsr_source);
            if (setsockopt(fd, level, MCAST_JOIN_SOURCE_GROUP, &r, sizeof r) != 0) die("MCAST_JOIN_SOURCE_GROUP");
        } else {
            struct group_req r = { .gr_interface = index };
            parse(group, 0, &r.gr_group);
            if (setsockopt(fd, level, MCAST_JOIN_GROUP, &r, sizeof r) != 0) die("MCAST_JOIN_GROUP");
        }
    }
    int effective = 0;
    socklen_t elen = sizeof effective;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &effective, &elen);
    printf("ready rcvbuf=%d\n", effective);
    fflush(stdout);
    pthread_t t;
    if (pthread_create(&t, NULL, marks, NULL) != 0) die("pthread_create");

    static char buf[BATCH][65536];
    struct sockaddr_storage from[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = buf[i];
        iov[i].iov_len = sizeof buf[i];
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
    }
    for (;;) {
        if (mm) {
            for (int i = 0; i < BATCH; i++) msgs[i].msg_hdr.msg_namelen = sizeof from[i];
            int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL); // what is there; never waits for a full batch
            if (n > 0) counted(n, buf, msgs, 0);
        } else {
            socklen_t flen = sizeof from[0];
            ssize_t n = recvfrom(fd, buf[0], sizeof buf[0], 0, (struct sockaddr *)&from[0], &flen);
            if (n < 0) continue;
            counted(1, buf, NULL, n);
            if (echo) sendto(fd, buf[0], (size_t)n, 0, (struct sockaddr *)&from[0], flen);
        }
    }
}
