// pcimem — access a PCI BAR from a guest shell through /sys/bus/pci/devices/BDF/resourceN.
// Part of PciKit's guest image (guest/build-guest compiles it with gcc -O2 -static).
//
//   pcimem DEV BAR OP...         DEV = 0000:00:03.0 | 00:03.0 | path to a resourceN file
//                                BAR = 0..5 (ignored when DEV is a path), or "config" for the
//                                config space (pread/pwrite of the config file, e.g. to set
//                                Memory Space and Bus Master: "pcimem 00:02.0 config w16 4 0x106")
// OPs run in order on one mapping:
//   size                         print the mapping size (fstat of resourceN)
//   rW OFF                       read W bits (W = 8, 16, 32, 64), print 0x%0*x
//   wW OFF VALUE                 write W bits
//   pW OFF MASK VALUE MS         poll until (read & MASK) == VALUE, at most MS ms; fails on timeout
//   bench rW OFF N               time N reads, print "N ops, X ns/op"
//   bench wW OFF N VALUE         time N writes
//   usleep US                    sleep
// Exit status 0 on success, 1 on a failed poll, 2 on a usage or I/O error.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile uint8_t *base;
static size_t map_size;
static int cfg_fd = -1;   // >= 0: config space through pread/pwrite instead of a mapping

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "pcimem: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(2);
}

static uint64_t num(const char *s)
{
    char *end;
    errno = 0;
    uint64_t v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        die("bad number '%s'", s);
    return v;
}

static int width(const char *op)   // "r32" -> 32
{
    int w = atoi(op + 1);
    if (w != 8 && w != 16 && w != 32 && w != 64)
        die("bad access width in '%s'", op);
    return w;
}

static volatile void *at(uint64_t off, int w)
{
    if (off % (w / 8) || off + w / 8 > map_size)
        die("offset out of range or unaligned: %s", "");
    return (volatile void *)(base + off);
}

static uint64_t rd(uint64_t off, int w)
{
    if (cfg_fd >= 0) {
        uint64_t v = 0;
        (void)at(off, w);
        if (pread(cfg_fd, &v, (size_t)w / 8, (off_t)off) != w / 8)
            die("config read failed%s", "");
        return v;
    }
    volatile void *p = at(off, w);
    switch (w) {
    case 8: return *(volatile uint8_t *)p;
    case 16: return *(volatile uint16_t *)p;
    case 32: return *(volatile uint32_t *)p;
    default: return *(volatile uint64_t *)p;
    }
}

static void wr(uint64_t off, int w, uint64_t v)
{
    if (cfg_fd >= 0) {
        (void)at(off, w);
        if (pwrite(cfg_fd, &v, (size_t)w / 8, (off_t)off) != w / 8)
            die("config write failed%s", "");
        return;
    }
    volatile void *p = at(off, w);
    switch (w) {
    case 8: *(volatile uint8_t *)p = (uint8_t)v; break;
    case 16: *(volatile uint16_t *)p = (uint16_t)v; break;
    case 32: *(volatile uint32_t *)p = (uint32_t)v; break;
    default: *(volatile uint64_t *)p = v; break;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void need(int i, int n, int argc)
{
    if (i + n > argc)
        die("missing operand after op %s", "");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: pcimem DEV BAR OP... (see source header: size, rW, wW, pW, bench, usleep)\n");
        return 2;
    }
    char path[512];
    int config = !strcmp(argv[2], "config");
    if (strchr(argv[1], '/'))
        snprintf(path, sizeof path, "%s", argv[1]);
    else
        snprintf(path, sizeof path, "/sys/bus/pci/devices/%s%s/%s%s",
                 strlen(argv[1]) <= 7 ? "0000:" : "",   // BB:DD.F without domain
                 argv[1], config ? "" : "resource", config ? "config" : argv[2]);

    int fd = open(path, O_RDWR | O_SYNC);
    if (fd < 0)
        die("cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= 0)
        die("cannot size %s", path);
    map_size = (size_t)st.st_size;
    void *m = MAP_FAILED;
    if (config) {
        cfg_fd = fd;
    } else {
        m = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
            die("mmap of %s failed", path);
        base = m;
    }

    int rc = 0;
    for (int i = 3; i < argc;) {
        const char *op = argv[i++];
        if (!strcmp(op, "size")) {
            printf("%zu\n", map_size);
        } else if (op[0] == 'r' && op[1] >= '0' && op[1] <= '9') {
            int w = width(op);
            need(i, 1, argc);
            printf("0x%0*llx\n", w / 4, (unsigned long long)rd(num(argv[i]), w));
            i += 1;
        } else if (op[0] == 'w' && op[1] >= '0' && op[1] <= '9') {
            int w = width(op);
            need(i, 2, argc);
            wr(num(argv[i]), w, num(argv[i + 1]));
            i += 2;
        } else if (op[0] == 'p' && op[1] >= '0' && op[1] <= '9') {
            int w = width(op);
            need(i, 4, argc);
            uint64_t off = num(argv[i]), mask = num(argv[i + 1]), want = num(argv[i + 2]);
            uint64_t deadline = now_ns() + num(argv[i + 3]) * 1000000u, v;
            i += 4;
            while (((v = rd(off, w)) & mask) != want) {
                if (now_ns() > deadline) {
                    fprintf(stderr, "pcimem: poll timeout at 0x%llx: 0x%llx\n",
                            (unsigned long long)off, (unsigned long long)v);
                    rc = 1;
                    break;
                }
                usleep(50);
            }
        } else if (!strcmp(op, "bench")) {
            need(i, 3, argc);
            const char *what = argv[i];
            int w = width(what);
            uint64_t off = num(argv[i + 1]), n = num(argv[i + 2]), v = 0;
            i += 3;
            if (what[0] == 'w') {
                need(i, 1, argc);
                v = num(argv[i++]);
            } else if (what[0] != 'r') {
                die("bench needs rW or wW, not '%s'", what);
            }
            (void)at(off, w);
            uint64_t t0 = now_ns();
            for (uint64_t k = 0; k < n; k++) {
                if (what[0] == 'r')
                    v += rd(off, w);
                else
                    wr(off, w, v);
            }
            uint64_t dt = now_ns() - t0;
            printf("%llu ops, %.1f ns/op\n", (unsigned long long)n, n ? (double)dt / (double)n : 0.0);
        } else if (!strcmp(op, "usleep")) {
            need(i, 1, argc);
            usleep((useconds_t)num(argv[i++]));
        } else {
            die("unknown op '%s'", op);
        }
        fflush(stdout);
        if (rc)
            break;
    }
    if (m != MAP_FAILED)
        munmap(m, map_size);
    close(fd);
    return rc;
}
