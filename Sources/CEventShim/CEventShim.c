// The C shim behind CEventShim.h: each function exists only because Swift
// cannot reach what it wraps (see the header).
#include "CEventShim.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

const char *magent_build_date(void) { return __DATE__ " " __TIME__; }

int magent_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -1;
    int fdflags = fcntl(fd, F_GETFD, 0);
    if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0) return -1;
    return 0;
}

void magent_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int magent_block_termination_signals(int block) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGHUP);
    return pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

int magent_socket_queues(int fd, int *unread, int *unacknowledged) {
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0) return -1;
    if (ioctl(fd, FIONREAD, unread) != 0) return -1;
    *unacknowledged = 0;
    if (address.ss_family == AF_INET || address.ss_family == AF_INET6) {
        if (ioctl(fd, SIOCOUTQ, unacknowledged) != 0) return -1;
    }
    return 0;
}

int magent_daemonize(void) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid > 0) _exit(0);
    if (setsid() < 0) return -1;
    if (chdir("/") != 0) return -1;
    int null = open("/dev/null", O_RDWR);
    if (null < 0) return -1;
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) close(null);
    return 0;
}
