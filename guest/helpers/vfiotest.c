// vfiotest — a small VFIO user-space driver: binds a PCI function to vfio-pci and drives it through the
// device fd (MSI-X and MSI interrupts on eventfds, DMA through the IOMMU with several small mappings).
// Part of PciKit's guest image (guest/build-guest compiles it with gcc -O2 -static).
//
//   vfiotest DEV msix N ROUNDS DOORBELL_OFF   N MSI-X vectors on eventfds; each round, for each vector v:
//                                             write v to BAR0+DOORBELL_OFF, wait for eventfd v
//                                             ("msix v=V count=C", then "MSIX-OK TOTAL" or "MSIX-FAIL ...")
//   vfiotest DEV msi ROUNDS RAISE_OFF ACK_OFF one MSI vector; each round: write 1 to RAISE_OFF, wait, write 1
//                                             to ACK_OFF ("msi r=R count=C", then "MSI-OK N" or "MSI-FAIL ...")
//   vfiotest DEV dma                          QEMU's edu: a 16 KiB buffer mapped as four 4 KiB IOMMU mappings at
//                                             consecutive IOVAs; 4096 bytes from IOVA+2K to the device (crosses
//                                             mappings 0→1), back to IOVA+6K (crosses 1→2), compared byte-exact
//                                             ("DMA-OK" or "DMA-FAIL off=...")
// DEV = 0000:00:03.0 or 00:03.0. The device is unbound from its driver and bound to vfio-pci (driver_override);
// the guest needs an IOMMU (vfio_iommu_type1; with no interrupt remapping: allow_unsafe_interrupts=1).
// BAR registers are accessed 4 bytes at a time through the device fd (pread/pwrite on the region).
// Exit status 0 on success, 1 on a failed check or timeout, 2 on a usage or setup error.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 2000
#define MAX_VECTORS 64

static char bdf[32];
static int container = -1, group = -1, device = -1;
static struct vfio_region_info config_region = { .argsz = sizeof config_region, .index = VFIO_PCI_CONFIG_REGION_INDEX };
static struct vfio_region_info bar0 = { .argsz = sizeof bar0, .index = VFIO_PCI_BAR0_REGION_INDEX };

static const char *err(int e) { const char *n = strerrorname_np(e); return n ? n : "?"; }

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "vfiotest: ");
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    exit(2);
}

// ioctl that must succeed; dies naming the request and errno
#define IOCTL(fd, req, arg) \
    do { if (ioctl((fd), (req), (arg)) < 0) die("%s: %s (%s)", #req, err(errno), strerror(errno)); } while (0)

static uint64_t num(const char *s)
{
    char *end;
    errno = 0;
    uint64_t v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        die("bad number '%s'", s);
    return v;
}

static void write_sysfs(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        die("open %s: %s", path, err(errno));
    ssize_t n = write(fd, value, strlen(value));
    if (n != (ssize_t)strlen(value))
        die("write '%s' to %s: %s", value, path, n < 0 ? err(errno) : "short write");
    close(fd);
}

static int current_driver(char *name, size_t len)   // 0 and the driver's name, or -1 when unbound
{
    char path[256], target[256];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver", bdf);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return -1;
    target[n] = 0;
    snprintf(name, len, "%s", basename(target));
    return 0;
}

static void bind_vfio_pci(void)
{
    char path[256], drv[128];
    if (current_driver(drv, sizeof drv) == 0 && !strcmp(drv, "vfio-pci"))
        return;
    if (access("/sys/bus/pci/drivers/vfio-pci", F_OK))
        die("vfio-pci is not loaded (modprobe vfio-pci)");
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver_override", bdf);
    write_sysfs(path, "vfio-pci");
    if (current_driver(drv, sizeof drv) == 0) {
        snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver/unbind", bdf);
        write_sysfs(path, bdf);
    }
    write_sysfs("/sys/bus/pci/drivers_probe", bdf);
    if (current_driver(drv, sizeof drv) || strcmp(drv, "vfio-pci"))
        die("%s did not bind to vfio-pci", bdf);
}

static void open_device(void)
{
    char path[256], target[256];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        die("%s has no IOMMU group (%s): boot with an IOMMU and intel_iommu=on", bdf, err(errno));
    target[n] = 0;
    const char *group_id = basename(target);

    if ((container = open("/dev/vfio/vfio", O_RDWR)) < 0)
        die("open /dev/vfio/vfio: %s", err(errno));
    int api = ioctl(container, VFIO_GET_API_VERSION);
    if (api != VFIO_API_VERSION)
        die("VFIO API version %d, want %d", api, VFIO_API_VERSION);
    if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) != 1)
        die("no VFIO_TYPE1_IOMMU (modprobe vfio_iommu_type1)");

    snprintf(path, sizeof path, "/dev/vfio/%s", group_id);
    if ((group = open(path, O_RDWR)) < 0)
        die("open %s: %s", path, err(errno));
    struct vfio_group_status status = { .argsz = sizeof status };
    IOCTL(group, VFIO_GROUP_GET_STATUS, &status);
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
        die("group %s is not viable (bind every device in it to vfio-pci)", group_id);
    IOCTL(group, VFIO_GROUP_SET_CONTAINER, &container);
    if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0)
        die("VFIO_SET_IOMMU: %s (%s)%s", err(errno), strerror(errno),
            errno == EPERM ? "; no interrupt remapping: vfio_iommu_type1 allow_unsafe_interrupts=1" : "");
    if ((device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf)) < 0)
        die("VFIO_GROUP_GET_DEVICE_FD: %s (%s)", err(errno), strerror(errno));

    struct vfio_device_info info = { .argsz = sizeof info };
    IOCTL(device, VFIO_DEVICE_GET_INFO, &info);
    if (!(info.flags & VFIO_DEVICE_FLAGS_PCI))
        die("%s is not a VFIO PCI device", bdf);
    IOCTL(device, VFIO_DEVICE_GET_REGION_INFO, &config_region);
    IOCTL(device, VFIO_DEVICE_GET_REGION_INFO, &bar0);
    if (bar0.size == 0)
        die("BAR0 is not implemented");

    uint32_t id;
    uint16_t cmd;
    if (pread(device, &id, 4, config_region.offset) != 4 || pread(device, &cmd, 2, config_region.offset + 4) != 2)
        die("config read: %s", err(errno));
    cmd |= 0x6;   // Memory Space + Bus Master
    if (pwrite(device, &cmd, 2, config_region.offset + 4) != 2)
        die("config write: %s", err(errno));
    printf("vfiotest: %s group %s id %04x:%04x regions %u irqs %u bar0 0x%llx%s\n", bdf, group_id, id & 0xffff,
           id >> 16, info.num_regions, info.num_irqs, (unsigned long long)bar0.size,
           bar0.flags & VFIO_REGION_INFO_FLAG_MMAP ? " mmap" : "");
    fflush(stdout);
}

static uint32_t rd32(uint64_t off)
{
    uint32_t v;
    if (off + 4 > bar0.size || pread(device, &v, 4, bar0.offset + off) != 4)
        die("BAR0 read at 0x%llx: %s", (unsigned long long)off, err(errno));
    return v;
}

static void wr32(uint64_t off, uint32_t v)
{
    if (off + 4 > bar0.size || pwrite(device, &v, 4, bar0.offset + off) != 4)
        die("BAR0 write at 0x%llx: %s", (unsigned long long)off, err(errno));
}

static void set_irqs(unsigned index, int count, const int *fds)   // count 0: disable
{
    char buf[sizeof(struct vfio_irq_set) + MAX_VECTORS * sizeof(int32_t)];
    struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
    set->argsz = sizeof *set + count * sizeof(int32_t);
    set->flags = (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = index;
    set->start = 0;
    set->count = count;
    memcpy(set->data, fds, count * sizeof(int32_t));
    IOCTL(device, VFIO_DEVICE_SET_IRQS, set);
}

static int *irq_eventfds(unsigned index, int n)
{
    struct vfio_irq_info info = { .argsz = sizeof info, .index = index };
    IOCTL(device, VFIO_DEVICE_GET_IRQ_INFO, &info);
    if (n < 1 || n > MAX_VECTORS || (unsigned)n > info.count)
        die("%d vectors asked, the device has %u on index %u", n, info.count, index);
    int *fds = calloc(n, sizeof *fds);
    for (int i = 0; i < n; i++)
        if ((fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
            die("eventfd: %s", err(errno));
    set_irqs(index, n, fds);
    return fds;
}

static int wait_eventfd(int fd, uint64_t *count)   // 0 and the counter, or -1 on a timeout
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n;
    while ((n = poll(&p, 1, WAIT_MS)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        die("poll: %s", err(errno));
    if (n == 0)
        return -1;
    if (read(fd, count, 8) != 8)
        die("eventfd read: %s", err(errno));
    return 0;
}

static int cmd_msix(int n, int rounds, uint64_t doorbell)
{
    int *fds = irq_eventfds(VFIO_PCI_MSIX_IRQ_INDEX, n);
    uint64_t total = 0;
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < n; v++) {
            wr32(doorbell, (uint32_t)v);
            uint64_t c;
            if (wait_eventfd(fds[v], &c)) {
                printf("MSIX-FAIL timeout round=%d v=%d after %llu\n", r, v, (unsigned long long)total);
                return 1;
            }
            printf("msix v=%d count=%llu\n", v, (unsigned long long)c);
            total += c;
            if (c != 1) {
                printf("MSIX-FAIL round=%d v=%d count=%llu\n", r, v, (unsigned long long)c);
                return 1;
            }
        }
    for (int v = 0; v < n; v++) {   // nothing left over on any vector
        uint64_t c;
        if (read(fds[v], &c, 8) == 8) {
            printf("MSIX-FAIL stray v=%d count=%llu\n", v, (unsigned long long)c);
            return 1;
        }
    }
    set_irqs(VFIO_PCI_MSIX_IRQ_INDEX, 0, NULL);
    printf("MSIX-OK %llu\n", (unsigned long long)total);
    return 0;
}

static int cmd_msi(int rounds, uint64_t raise, uint64_t ack)
{
    int *fds = irq_eventfds(VFIO_PCI_MSI_IRQ_INDEX, 1);
    int got = 0;
    for (int r = 0; r < rounds; r++) {
        wr32(raise, 1);
        uint64_t c;
        if (wait_eventfd(fds[0], &c)) {
            printf("MSI-FAIL timeout round=%d after %d\n", r, got);
            return 1;
        }
        printf("msi r=%d count=%llu\n", r, (unsigned long long)c);
        wr32(ack, 1);
        rd32(0);   // flush the posted acknowledge
        if (c != 1) {
            printf("MSI-FAIL round=%d count=%llu\n", r, (unsigned long long)c);
            return 1;
        }
        got++;
    }
    set_irqs(VFIO_PCI_MSI_IRQ_INDEX, 0, NULL);
    printf("MSI-OK %d\n", got);
    return 0;
}

// edu's DMA engine: 0x80 source, 0x88 destination, 0x90 count, 0x98 command (bit 0 start, bit 1 device → RAM).
// 4-byte writes suffice: every address used is below 4 GiB (edu drives 28 bits).
#define EDU_BUFFER 0x40000
#define IOVA_BASE 0x1000000ULL   // 16 MiB
#define PAGE 4096
#define PAGES 4

static int edu_dma(uint32_t src, uint32_t dst, uint32_t cmd)
{
    wr32(0x80, src);
    wr32(0x88, dst);
    wr32(0x90, PAGE);
    wr32(0x98, cmd);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (!(rd32(0x98) & 1))
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > WAIT_MS)
            return -1;
        usleep(1000);
    }
}

static int cmd_dma(void)
{
    uint8_t *buf = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buf == MAP_FAILED)
        die("mmap: %s", err(errno));
    for (int i = 0; i < PAGES; i++) {   // four mappings, adjacent IOVAs
        struct vfio_iommu_type1_dma_map map = {
            .argsz = sizeof map, .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            .vaddr = (uintptr_t)(buf + i * PAGE), .iova = IOVA_BASE + i * PAGE, .size = PAGE,
        };
        IOCTL(container, VFIO_IOMMU_MAP_DMA, &map);
    }
    for (int i = 0; i < PAGES * PAGE; i++)
        buf[i] = (uint8_t)(i * 7 + 3 + (i >> 8));
    uint8_t want[PAGE];
    memcpy(want, buf + PAGE / 2, PAGE);

    if (edu_dma(IOVA_BASE + PAGE / 2, EDU_BUFFER, 1)) {   // RAM → device, pages 0 and 1
        printf("DMA-FAIL timeout to device\n");
        return 1;
    }
    memset(buf, 0, PAGES * PAGE);
    if (edu_dma(EDU_BUFFER, IOVA_BASE + PAGE + PAGE / 2, 3)) {   // device → RAM, pages 1 and 2
        printf("DMA-FAIL timeout from device\n");
        return 1;
    }
    const size_t at = PAGE + PAGE / 2;
    for (size_t i = 0; i < PAGES * PAGE; i++) {
        uint8_t expect = i >= at && i < at + PAGE ? want[i - at] : 0;
        if (buf[i] != expect) {
            printf("DMA-FAIL off=%zu got=0x%02x want=0x%02x\n", i, buf[i], expect);
            return 1;
        }
    }
    for (int i = 0; i < PAGES; i++) {
        struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof unmap, .iova = IOVA_BASE + i * PAGE, .size = PAGE };
        IOCTL(container, VFIO_IOMMU_UNMAP_DMA, &unmap);
    }
    printf("DMA-OK\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        goto usage;
    snprintf(bdf, sizeof bdf, "%s%s", strlen(argv[1]) <= 7 ? "0000:" : "", argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *op = argv[2];
    if (!strcmp(op, "msix") && argc == 6) {
        bind_vfio_pci();
        open_device();
        return cmd_msix((int)num(argv[3]), (int)num(argv[4]), num(argv[5]));
    }
    if (!strcmp(op, "msi") && argc == 6) {
        bind_vfio_pci();
        open_device();
        return cmd_msi((int)num(argv[3]), num(argv[4]), num(argv[5]));
    }
    if (!strcmp(op, "dma") && argc == 3) {
        bind_vfio_pci();
        open_device();
        return cmd_dma();
    }

usage:
    fprintf(stderr, "usage: vfiotest DEV msix N ROUNDS DOORBELL_OFF | DEV msi ROUNDS RAISE_OFF ACK_OFF | DEV dma\n");
    return 2;
}
