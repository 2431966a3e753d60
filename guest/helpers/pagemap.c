// pagemap — a locked, physically contiguous DMA buffer below a physical limit, for guest shell tests.
// Part of PciKit's guest image (guest/build-guest compiles it with gcc -O2 -static). Needs root.
//
//   pagemap [LIMIT [SIZE]]        LIMIT default 0x10000000 (256 MiB: edu's 28-bit DMA mask),
//                                 SIZE default 4096 (larger sizes need physically contiguous pages)
// Prints "phys=0x... size=N" once the buffer is found, then serves one command per stdin line and
// answers each with exactly one line (flushed), so a script can drive it through two FIFOs:
//   phys                          phys=0x...
//   fill OFF LEN BYTE             ok
//   pat OFF LEN SEED              ok              byte k = (SEED + 7*k + (k >> 8)) & 0xff
//   check OFF LEN SEED            ok | mismatch OFF got=0x.. want=0x..
//   set OFF HEXBYTES              ok              e.g. "set 0 deadbeef"
//   dump OFF LEN                  hex bytes on one line
//   r8|r16|r32|r64 OFF            0x...
//   w8|w16|w32|w64 OFF VALUE      ok
//   quit                          bye (and exit; EOF on stdin exits too)
// Errors answer "err ...". Exit status 2 when no buffer could be found.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u
#define CHUNK (4u << 20)
#define MAX_HELD 1024

static volatile uint8_t *buf;
static size_t size;
static uint64_t phys;

static int pagemap_fd = -1;

static uint64_t pfn_of(const void *va)
{
    uint64_t e;
    off_t off = (off_t)((uintptr_t)va / PAGE) * 8;
    if (pread(pagemap_fd, &e, 8, off) != 8)
        return 0;
    if (!(e & (1ull << 63)))
        return 0;                          // not present
    return e & ((1ull << 55) - 1);         // PFN (0 without CAP_SYS_ADMIN)
}

// Finds `need` physically contiguous pages ending at or below `limit` inside [c, c+len).
static long find_run(uint8_t *c, size_t len, size_t need, uint64_t limit)
{
    size_t pages = len / PAGE, run = 0;
    uint64_t prev = 0;
    for (size_t i = 0; i < pages; i++) {
        uint64_t pfn = pfn_of(c + i * PAGE);
        if (pfn && (pfn + 1) * PAGE <= limit && (run == 0 || pfn == prev + 1))
            run++;
        else
            run = (pfn && (pfn + 1) * PAGE <= limit) ? 1 : 0;
        prev = pfn;
        if (run == need)
            return (long)(i + 1 - need);
    }
    return -1;
}

static uint64_t mem_available(void)   // bytes, from /proc/meminfo (0 if unknown)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb * 1024;
}

static int allocate(uint64_t limit)
{
    pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
    if (pagemap_fd < 0) {
        perror("pagemap: /proc/self/pagemap");
        return -1;
    }
    size_t need = (size + PAGE - 1) / PAGE;
    size_t len = need * PAGE > CHUNK ? need * PAGE : CHUNK;
    static void *held[MAX_HELD];
    int nheld = 0, rc = -1;
    // Never hold more than what is available minus a margin: the OOM killer must stay away.
    uint64_t avail = mem_available(), margin = 48u << 20;
    uint64_t budget = avail > margin + len ? avail - margin : len;
    while (nheld < MAX_HELD && (uint64_t)(nheld + 1) * len <= budget) {
        uint8_t *c = mmap(NULL, len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
        if (c == MAP_FAILED)
            break;
        madvise(c, len, MADV_NOHUGEPAGE);
        if (mlock(c, len) != 0) {
            munmap(c, len);
            break;
        }
        for (size_t i = 0; i < len; i += PAGE)
            c[i] = 0;                      // make sure every page is present
        long first = find_run(c, len, need, limit);
        if (first >= 0) {
            size_t lo = (size_t)first * PAGE, hi = lo + need * PAGE;
            if (lo)
                munmap(c, lo);
            if (hi < len)
                munmap(c + hi, len - hi);
            buf = c + lo;
            phys = pfn_of(c + lo) * PAGE;
            rc = 0;
            break;
        }
        held[nheld++] = c;                 // keep these pages so the next chunk gets others
    }
    for (int i = 0; i < nheld; i++)
        munmap(held[i], len);
    if (rc)
        fprintf(stderr, "pagemap: no %zu contiguous bytes below 0x%llx after %d chunks\n",
                size, (unsigned long long)limit, nheld);
    return rc;
}

static int range(uint64_t off, uint64_t len)
{
    if (off > size || len > size - off) {
        printf("err range\n");
        return 0;
    }
    return 1;
}

static uint8_t pat(uint64_t seed, uint64_t k)
{
    return (uint8_t)(seed + 7 * k + (k >> 8));
}

int main(int argc, char **argv)
{
    uint64_t limit = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x10000000ull;
    size = argc > 2 ? strtoull(argv[2], NULL, 0) : PAGE;
    if (!size || !limit) {
        fprintf(stderr, "usage: pagemap [LIMIT [SIZE]]\n");
        return 2;
    }
    if (allocate(limit))
        return 2;
    memset((void *)buf, 0, size);
    printf("phys=0x%llx size=%zu\n", (unsigned long long)phys, size);
    fflush(stdout);

    char line[16384], cmd[16], hex[16384 - 32];
    while (fgets(line, sizeof line, stdin)) {
        unsigned long long a = 0, b = 0, c = 0;
        hex[0] = 0;
        int n = sscanf(line, "%15s %lli %lli %lli", cmd, &a, &b, &c);
        if (n < 1)
            continue;
        if (!strcmp(cmd, "quit")) {
            printf("bye\n");
            break;
        } else if (!strcmp(cmd, "phys")) {
            printf("phys=0x%llx\n", (unsigned long long)phys);
        } else if (!strcmp(cmd, "fill") && n == 4) {
            if (range(a, b)) {
                for (uint64_t k = 0; k < b; k++)
                    buf[a + k] = (uint8_t)c;
                printf("ok\n");
            }
        } else if (!strcmp(cmd, "pat") && n == 4) {
            if (range(a, b)) {
                for (uint64_t k = 0; k < b; k++)
                    buf[a + k] = pat(c, k);
                printf("ok\n");
            }
        } else if (!strcmp(cmd, "check") && n == 4) {
            if (range(a, b)) {
                uint64_t k;
                for (k = 0; k < b && buf[a + k] == pat(c, k); k++)
                    ;
                if (k == b)
                    printf("ok\n");
                else
                    printf("mismatch 0x%llx got=0x%02x want=0x%02x\n", (unsigned long long)(a + k),
                           buf[a + k], pat(c, k));
            }
        } else if (!strcmp(cmd, "set") && sscanf(line, "%15s %lli %16000s", cmd, &a, hex) == 3) {
            size_t len = strlen(hex) / 2;
            if (range(a, len)) {
                for (size_t k = 0; k < len; k++) {
                    unsigned v;
                    sscanf(hex + 2 * k, "%2x", &v);
                    buf[a + k] = (uint8_t)v;
                }
                printf("ok\n");
            }
        } else if (!strcmp(cmd, "dump") && n == 3) {
            if (range(a, b)) {
                for (uint64_t k = 0; k < b; k++)
                    printf("%02x", buf[a + k]);
                printf("\n");
            }
        } else if ((cmd[0] == 'r' || cmd[0] == 'w') && cmd[1] >= '0' && cmd[1] <= '9') {
            int w = atoi(cmd + 1);
            if ((w != 8 && w != 16 && w != 32 && w != 64) || n < (cmd[0] == 'r' ? 2 : 3)) {
                printf("err usage\n");
            } else if (range(a, (uint64_t)w / 8)) {
                volatile void *p = buf + a;
                if (cmd[0] == 'r') {
                    uint64_t v = w == 8 ? *(volatile uint8_t *)p : w == 16 ? *(volatile uint16_t *)p
                               : w == 32 ? *(volatile uint32_t *)p : *(volatile uint64_t *)p;
                    printf("0x%0*llx\n", w / 4, (unsigned long long)v);
                } else {
                    if (w == 8) *(volatile uint8_t *)p = (uint8_t)b;
                    else if (w == 16) *(volatile uint16_t *)p = (uint16_t)b;
                    else if (w == 32) *(volatile uint32_t *)p = (uint32_t)b;
                    else *(volatile uint64_t *)p = b;
                    printf("ok\n");
                }
            }
        } else {
            printf("err unknown command\n");
        }
        fflush(stdout);
    }
    fflush(stdout);
    return 0;
}
