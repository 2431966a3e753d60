// blkbench — timed direct I/O on a block device, for PciKit's virtio-blk benchmark (bench/vm/virtio-blk-bench).
// Part of PciKit's guest image (guest/build-guest compiles it with gcc -O2 -static).
//
//   blkbench DEV seqread  BLOCK COUNT     COUNT reads of BLOCK bytes from offset 0, in order
//   blkbench DEV seqwrite BLOCK COUNT     COUNT writes of BLOCK bytes from offset 0, then fdatasync (timed)
//   blkbench DEV randread BLOCK COUNT [SPAN]   COUNT reads of BLOCK bytes at random BLOCK-aligned offsets
//                                         within the first SPAN bytes (default: the whole device)
// Opens DEV with O_DIRECT (the guest page cache is bypassed; one request in flight at a time) and prints one line:
//   blkbench MODE block=BLOCK count=COUNT bytes=N seconds=S MBps=X iops=Y
// Exit status 1 on any I/O error (with a message on stderr).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: blkbench DEV seqread|seqwrite|randread BLOCK COUNT [SPAN]\n");
        return 2;
    }
    const char *dev = argv[1], *mode = argv[2];
    size_t block = strtoull(argv[3], NULL, 0);
    long count = strtol(argv[4], NULL, 0);
    int writing = strcmp(mode, "seqwrite") == 0, random = strcmp(mode, "randread") == 0;
    if (!writing && !random && strcmp(mode, "seqread") != 0) {
        fprintf(stderr, "blkbench: unknown mode %s\n", mode);
        return 2;
    }
    if (block == 0 || block % 512 != 0 || count <= 0) {
        fprintf(stderr, "blkbench: BLOCK must be a multiple of 512 and COUNT positive\n");
        return 2;
    }
    int fd = open(dev, (writing ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0) {
        fprintf(stderr, "blkbench: open %s: %s\n", dev, strerror(errno));
        return 1;
    }
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
        fprintf(stderr, "blkbench: BLKGETSIZE64: %s\n", strerror(errno));
        return 1;
    }
    uint64_t span = argc > 5 ? strtoull(argv[5], NULL, 0) : size;
    if (span > size) span = size;
    uint64_t blocks = span / block;
    if (blocks == 0 || (!random && (uint64_t)count > size / block)) {
        fprintf(stderr, "blkbench: %s (%llu bytes) is too small for %ld blocks of %zu\n", dev, (unsigned long long)size, count, block);
        return 1;
    }
    void *buf;
    if (posix_memalign(&buf, 4096, block) != 0) return 1;
    memset(buf, 0x5a, block);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    double start = now();
    for (long i = 0; i < count; i++) {
        uint64_t at;
        if (random) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            at = (rng % blocks) * block;
        } else {
            at = (uint64_t)i * block;
        }
        ssize_t n = writing ? pwrite(fd, buf, block, at) : pread(fd, buf, block, at);
        if (n != (ssize_t)block) {
            fprintf(stderr, "blkbench: %s at %llu: %s\n", writing ? "pwrite" : "pread", (unsigned long long)at, n < 0 ? strerror(errno) : "short transfer");
            return 1;
        }
    }
    if (writing && fdatasync(fd) != 0) {
        fprintf(stderr, "blkbench: fdatasync: %s\n", strerror(errno));
        return 1;
    }
    double seconds = now() - start;
    double bytes = (double)block * count;
    printf("blkbench %s block=%zu count=%ld bytes=%.0f seconds=%.3f MBps=%.1f iops=%.0f\n",
           mode, block, count, bytes, seconds, bytes / seconds / 1e6, count / seconds);
    close(fd);
    return 0;
}
