// uiowait — wait for INTx interrupts of a device bound to uio_pci_generic.
// Part of PciKit's guest image (guest/build-guest compiles it with gcc -O2 -static).
//
//   uiowait [-t MS] [-n ROUNDS] [-x CMD] [-a CMD] DEV
//     DEV  /dev/uioN, uioN, or a PCI address (0000:00:03.0 or 00:03.0) with a uio device
//     -t   timeout per interrupt in ms (default 2000)
//     -n   interrupts to wait for (default 1)
//     -x   shell command run after INTx is re-enabled, each round (e.g. make the device interrupt)
//     -a   shell command run after each interrupt arrived (e.g. acknowledge it in the device)
// Each round: clear the Interrupt Disable bit (command register bit 10) through the device's
// config file — uio_pci_generic's handler sets it on every interrupt —, run -x, wait for the
// event count to change (poll + read of /dev/uioN), print "irq N count=C", run -a.
// Exit status 0 when all interrupts arrived, 1 on a timeout, 2 on a usage or I/O error.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int find_uio(const char *bdf, char *name, size_t len)
{
    char dir[256];
    snprintf(dir, sizeof dir, "/sys/bus/pci/devices/%s%s/uio", strlen(bdf) <= 7 ? "0000:" : "", bdf);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = -1;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "uio", 3)) {
            snprintf(name, len, "%s", e->d_name);
            rc = 0;
            break;
        }
    closedir(d);
    return rc;
}

static int enable_intx(int cfg)
{
    uint16_t cmd;
    if (pread(cfg, &cmd, 2, 4) != 2)
        return -1;
    if (cmd & 0x400) {
        cmd &= (uint16_t)~0x400;
        if (pwrite(cfg, &cmd, 2, 4) != 2)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int timeout = 2000, rounds = 1, opt;
    const char *xcmd = NULL, *acmd = NULL;
    while ((opt = getopt(argc, argv, "t:n:x:a:")) != -1) {
        switch (opt) {
        case 't': timeout = atoi(optarg); break;
        case 'n': rounds = atoi(optarg); break;
        case 'x': xcmd = optarg; break;
        case 'a': acmd = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1)
        goto usage;

    const char *dev = argv[optind];
    char name[300];
    if (!strncmp(dev, "/dev/", 5))
        snprintf(name, sizeof name, "%s", dev + 5);
    else if (!strncmp(dev, "uio", 3))
        snprintf(name, sizeof name, "%s", dev);
    else if (find_uio(dev, name, sizeof name)) {
        fprintf(stderr, "uiowait: %s has no uio device (bind it to uio_pci_generic)\n", dev);
        return 2;
    }

    char path[400];
    snprintf(path, sizeof path, "/dev/%s", name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        return 2;
    }
    snprintf(path, sizeof path, "/sys/class/uio/%s/device/config", name);
    int cfg = open(path, O_RDWR);
    if (cfg < 0) {
        perror(path);
        return 2;
    }

    for (int r = 1; r <= rounds; r++) {
        if (enable_intx(cfg)) {
            perror("uiowait: config space");
            return 2;
        }
        if (xcmd && system(xcmd) != 0)
            fprintf(stderr, "uiowait: -x command failed\n");
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int n = poll(&p, 1, timeout);
        if (n <= 0) {
            printf("timeout round %d\n", r);
            fflush(stdout);
            return 1;
        }
        uint32_t count;
        if (read(fd, &count, 4) != 4) {
            perror("uiowait: read");
            return 2;
        }
        printf("irq %d count=%u\n", r, count);
        fflush(stdout);
        if (acmd && system(acmd) != 0)
            fprintf(stderr, "uiowait: -a command failed\n");
    }
    return 0;

usage:
    fprintf(stderr, "usage: uiowait [-t MS] [-n ROUNDS] [-x CMD] [-a CMD] /dev/uioN|uioN|BDF\n");
    return 2;
}
