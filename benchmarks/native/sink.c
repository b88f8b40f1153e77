// A C receiver, the ceiling: recvfrom or recvmmsg on a port for a time.
// usage: sink recvfrom|recvmmsg PORT SECONDS  -> prints the number of datagrams received
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: sink recvfrom|recvmmsg PORT SECONDS\n"); return 2; }
    int mm = strcmp(argv[1], "recvmmsg") == 0;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0) { perror("bind"); return 1; }
    struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    printf("ready\n");
    fflush(stdout);
    static char buf[BATCH][2048];
    struct sockaddr_storage from[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = buf[i]; iov[i].iov_len = sizeof buf[i];
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &from[i];
    }
    long long got = 0;
    struct timespec start, t;
    clock_gettime(CLOCK_MONOTONIC, &start);
    double seconds = atof(argv[3]);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - start.tv_sec + (t.tv_nsec - start.tv_nsec) / 1e9 > seconds) break;
        if (mm) {
            for (int i = 0; i < BATCH; i++) msgs[i].msg_hdr.msg_namelen = sizeof from[i];
            int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL); // return what is there, do not wait for a full batch
            if (n > 0) got += n;
        } else {
            socklen_t len = sizeof from[0];
            if (recvfrom(fd, buf[0], sizeof buf[0], 0, (struct sockaddr *)&from[0], &len) >= 0) got++;
        }
    }
    printf("%lld\n", got);
    return 0;
}
