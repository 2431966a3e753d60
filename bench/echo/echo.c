/*
 * PciKit's bare UNIX-socket echo: the floor for a vfio-user 4-byte region access round trip.
 * A request is 32 bytes (16-byte header + 16-byte region_access); the reply is 36 bytes (the request + 4 data bytes),
 * the shape of a 4-byte REGION_READ. One recv(32, MSG_WAITALL) and one send(36) per request on the server.
 *
 *   echo server <socket>                 accept one client, echo until it leaves
 *   echo client <socket> [N] [K] [W]     N timed round trips (after W warm-up) with K requests in flight
 *   echo vfio-client <socket> read|write [N] [K] [W]
 *                                        the same loop against a vfio-user server: VERSION, Command register
 *                                        (memory + bus master), then 4-byte REGION_READ (32-byte request, 36-byte
 *                                        reply) or REGION_WRITE (36 / 32) of BAR0 offset 0; the server's cost is
 *                                        then measured with the very client that measures the floor
 *
 *   echo bulk-server <socket> CHUNK [WINDOW]
 *                                        accept one client; answer each 32-byte request with a 32-byte header and CHUNK
 *                                        bytes in one sendmsg (the shape of a client's DMA_READ reply), taken from
 *                                        successive CHUNK-sized pieces of a WINDOW-byte buffer (default CHUNK: cache-hot;
 *                                        16 MiB walks memory like PciKit.VfioUserLoad's message DMA does)
 *   echo bulk-client <socket> CHUNK [SECONDS]
 *                                        send a 32-byte request, receive the 32-byte header, then the CHUNK bytes
 *                                        straight into one buffer (recv MSG_WAITALL); repeat for SECONDS (default 2)
 *                                        after a short warm-up; prints "gbps=.. us_per_chunk=.. chunks=.."
 *                                        — the kernel's floor for message DMA of CHUNK-byte pieces over a UNIX socket
 *
 * The client prints one line: "p50_us=.. p99_us=.. p999_us=.. max_us=.. ops=.." (latency = send to reply received).
 * Build: gcc -O2 -Wall -o echo echo.c
 */
#define _GNU_SOURCE
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { REQ = 32, REP = 36 };

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void address(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a->sun_path)) errx(2, "socket path too long");
    strcpy(a->sun_path, path);
}

/* Listens on path, accepts one client, removes the socket file; returns the connection. */
static int accept_one(const char *path)
{
    struct sockaddr_un a;
    address(&a, path);
    unlink(path);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1)) err(1, "listen %s", path);
    int s = accept(ls, NULL, NULL);
    if (s < 0) err(1, "accept");
    close(ls);
    unlink(path);
    return s;
}

static int serve(const char *path)
{
    int s = accept_one(path);
    unsigned char buf[REP];
    uint32_t n = 0;
    for (;;) {
        ssize_t r = recv(s, buf, REQ, MSG_WAITALL);
        if (r == 0) break;
        if (r != REQ) err(1, "recv");
        memcpy(buf + REQ, &n, 4);
        if (send(s, buf, REP, MSG_NOSIGNAL) != REP) err(1, "send");
        n++;
    }
    close(s);
    return 0;
}

static void send_all(int s, const void *p, size_t n)
{
    if (send(s, p, n, MSG_NOSIGNAL) != (ssize_t)n) err(1, "send");
}

static void recv_all(int s, void *p, size_t n)
{
    if (recv(s, p, n, MSG_WAITALL) != (ssize_t)n) err(1, "recv");
}

static void header(unsigned char *h, uint16_t id, uint16_t cmd, uint32_t size)
{
    uint32_t zero = 0;
    memcpy(h, &id, 2);
    memcpy(h + 2, &cmd, 2);
    memcpy(h + 4, &size, 4);
    memcpy(h + 8, &zero, 4);
    memcpy(h + 12, &zero, 4);
}

/* One setup request; the reply must be a success reply to it. */
static void call(int s, unsigned char *msg, uint32_t size)
{
    unsigned char h[16], body[4096];
    send_all(s, msg, size);
    recv_all(s, h, 16);
    uint32_t rsize, flags;
    memcpy(&rsize, h + 4, 4);
    memcpy(&flags, h + 8, 4);
    if (rsize < 16 || rsize - 16 > sizeof(body) || memcmp(h, msg, 4) || flags != 1) errx(1, "setup command %u refused (flags 0x%x)", msg[2], flags);
    recv_all(s, body, rsize - 16);
}

static int connect_to(const char *path)
{
    struct sockaddr_un a;
    address(&a, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    for (int i = 0; connect(s, (struct sockaddr *)&a, sizeof(a)); i++) {
        if (i > 1000) err(1, "connect %s", path);
        usleep(5000);
    }
    return s;
}

/* The echo client's loop: requests of req_size bytes (msg_id at offset id_at, as little as 2 bytes), replies of rep_size. */
static int loop(int s, unsigned char *req, int req_size, int rep_size, int id_at, int id_bytes, long n, int k, long w)
{
    long total = n + w;
    uint64_t *sent = calloc((size_t)total, 8), *lat = calloc((size_t)n, 8);
    if (!sent || !lat) err(1, "calloc");
    unsigned char rep[64];
    long next = 0, done = 0;
    uint64_t t0 = 0;
    while (done < total) {
        while (next < total && next - done < k) {
            uint32_t id = (uint32_t)next;
            memcpy(req + id_at, &id, (size_t)id_bytes);
            sent[next] = now_ns();
            send_all(s, req, (size_t)req_size);
            next++;
        }
        recv_all(s, rep, (size_t)rep_size);
        uint64_t t = now_ns();
        uint32_t id = 0, expect = (uint32_t)done;
        memcpy(&id, rep + id_at, (size_t)id_bytes);
        if (id_bytes == 2) expect &= 0xffff;
        if (id != expect) errx(1, "reply %u out of order (expected %u)", id, expect);
        if (done >= w) lat[done - w] = t - sent[done];
        if (done == w) t0 = sent[done];
        done++;
    }
    uint64_t t1 = now_ns();
    close(s);
    qsort(lat, (size_t)n, 8, cmp_u64);
    printf("p50_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.1f ops=%.0f\n", lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3,
           lat[n * 999 / 1000] / 1e3, lat[n - 1] / 1e3, n / ((t1 - t0) / 1e9));
    return 0;
}

static int vfio_client(const char *path, int write, long n, int k, long w)
{
    int s = connect_to(path);
    unsigned char msg[128];
    const char *json = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}";
    uint32_t size = 16 + 4 + (uint32_t)strlen(json) + 1;
    header(msg, 0xf000, 1, size); /* VERSION 0.0 */
    memset(msg + 16, 0, 4);
    memcpy(msg + 20, json, strlen(json) + 1);
    call(s, msg, size);
    uint64_t offset = 4;
    uint32_t region = 7, count = 2;
    header(msg, 0xf001, 10, 34); /* REGION_WRITE config[4] = memory space | bus master */
    memcpy(msg + 16, &offset, 8);
    memcpy(msg + 24, &region, 4);
    memcpy(msg + 28, &count, 4);
    msg[32] = 6;
    msg[33] = 0;
    call(s, msg, 34);
    unsigned char req[36];
    int req_size = write ? 36 : 32, rep_size = write ? 32 : 36;
    header(req, 0, write ? 10 : 9, (uint32_t)req_size);
    offset = 0;
    region = 0;
    count = 4;
    memcpy(req + 16, &offset, 8);
    memcpy(req + 24, &region, 4);
    memcpy(req + 28, &count, 4);
    uint32_t value = 0x12345678;
    memcpy(req + 32, &value, 4);
    return loop(s, req, req_size, rep_size, 0, 2, n, k, w);
}

static int client(const char *path, long n, int k, long w)
{
    int s = connect_to(path);
    unsigned char req[REQ] = {0};
    header(req, 0, 9, REQ); /* shaped like a REGION_READ; the echo server does not parse it */
    return loop(s, req, REQ, REP, 8, 4, n, k, w); /* sequence number in bytes 8..11 */
}

static int bulk_serve(const char *path, size_t chunk, size_t window)
{
    int s = accept_one(path);
    if (window < chunk) window = chunk;
    unsigned char req[REQ];
    unsigned char *buf = malloc(window);
    if (!buf) err(1, "malloc");
    memset(buf, 0x5a, window);
    size_t at = 0;
    for (;;) {
        ssize_t r = recv(s, req, REQ, MSG_WAITALL);
        if (r == 0) break;
        if (r != REQ) err(1, "recv");
        struct iovec iov[2] = { { req, REQ }, { buf + at, chunk } };
        struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
        if (sendmsg(s, &m, MSG_NOSIGNAL) != (ssize_t)(REQ + chunk)) err(1, "sendmsg");
        at = at + 2 * chunk <= window ? at + chunk : 0;
    }
    close(s);
    return 0;
}

static int bulk_client(const char *path, size_t chunk, double seconds)
{
    int s = connect_to(path);
    unsigned char req[REQ] = {0}, hdr[REQ];
    unsigned char *data = malloc(chunk);
    if (!data) err(1, "malloc");
    memset(data, 0, chunk);
    header(req, 0, 11, REQ);
    for (int i = 0; i < 20; i++) { send_all(s, req, REQ); recv_all(s, hdr, REQ); recv_all(s, data, chunk); } /* warm-up */
    long chunks = 0;
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), t;
    do {
        send_all(s, req, REQ);
        recv_all(s, hdr, REQ);
        recv_all(s, data, chunk);
        chunks++;
    } while ((t = now_ns()) < end);
    double secs = (double)(t - t0) / 1e9;
    printf("gbps=%.2f us_per_chunk=%.2f chunks=%ld\n", (double)chunks * chunk / secs / 1e9, secs * 1e6 / chunks, chunks);
    close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "bulk-server")) return bulk_serve(argv[2], (size_t)atol(argv[3]), argc > 4 ? (size_t)atol(argv[4]) : 0);
    if (argc >= 4 && !strcmp(argv[1], "bulk-client")) return bulk_client(argv[2], (size_t)atol(argv[3]), argc > 4 ? atof(argv[4]) : 2.0);
    if (argc >= 3 && !strcmp(argv[1], "server")) return serve(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "vfio-client"))
        return vfio_client(argv[2], !strcmp(argv[3], "write"), argc > 4 ? atol(argv[4]) : 100000, argc > 5 ? atoi(argv[5]) : 1,
                           argc > 6 ? atol(argv[6]) : 2000);
    if (argc >= 3 && !strcmp(argv[1], "client"))
        return client(argv[2], argc > 3 ? atol(argv[3]) : 100000, argc > 4 ? atoi(argv[4]) : 1,
                      argc > 5 ? atol(argv[5]) : 2000);
    fprintf(stderr, "usage: %s server <socket> | client <socket> [N=100000] [K=1] [W=2000] | vfio-client <socket> read|write [N] [K] [W] | bulk-server <socket> CHUNK [WINDOW] | bulk-client <socket> CHUNK [SECONDS]\n", argv[0]);
    return 2;
}
