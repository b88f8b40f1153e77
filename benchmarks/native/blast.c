// A saturating UDP sender: sendmmsg batches (or one sendto per datagram) of one size to one
// destination for a time.
// usage: blast ADDR PORT SIZE SECONDS [sendto]  -> prints the number of datagrams sent
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) { fprintf(stderr, "usage: blast ADDR PORT SIZE SECONDS [sendto]\n"); return 2; }
    int single = argc == 6 && strcmp(argv[5], "sendto") == 0;
    int size = atoi(argv[3]);
    double seconds = atof(argv[4]);
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 2; }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    static char buf[BATCH][65536];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = buf[i]; iov[i].iov_len = size;
        msgs[i].msg_hdr.msg_name = &dst; msgs[i].msg_hdr.msg_namelen = sizeof dst;
        msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long long sent = 0;
    double end = now() + seconds;
    while (now() < end) {
        for (int i = 0; i < BATCH; i++) memcpy(buf[i], &(long long){sent + i}, 8);
        if (single) {
            for (int i = 0; i < BATCH; i++)
                if (sendto(fd, buf[i], size, 0, (struct sockaddr *)&dst, sizeof dst) >= 0) sent++;
        } else {
            int n = sendmmsg(fd, msgs, BATCH, 0);
            if (n > 0) sent += n;
        }
    }
    printf("%lld\n", sent);
    return 0;
}
