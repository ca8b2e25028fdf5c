// The few calls magent needs that Swift cannot make cleanly: macros, variadic
// functions, fork. Every symbol is prefixed magent_ and says why it exists.
#ifndef MAGENT_CEVENTSHIM_H
#define MAGENT_CEVENTSHIM_H

#include <sys/types.h>

/// __DATE__ and __TIME__ exist only in C: the "Build-Date:" of `magent -h`.
const char *magent_build_date(void);

/// fcntl is variadic, which Swift cannot call: sets O_NONBLOCK (and FD_CLOEXEC).
int magent_set_nonblocking(int fd);

/// SIG_IGN is a cast macro Swift cannot import.
void magent_ignore_sigpipe(void);

/// sigset_t juggling with macros: blocks (1) or unblocks (0) SIGTERM, SIGINT,
/// SIGUSR2 and SIGHUP in the calling thread, so worker threads never take those
/// signals (and one arriving during start-up waits instead of killing).
int magent_block_termination_signals(int block);

/// ioctl is variadic, which Swift cannot call: the bytes a client socket has
/// received that were not read yet (FIONREAD), and for TCP the bytes sent but
/// not yet acknowledged by the peer (SIOCOUTQ; 0 for a unix socket, whose
/// bytes are with the peer once written). A drain closes a connection only
/// once both are 0, so a close never resets replies still on their way.
/// Returns 0, or -1 when the socket cannot be asked.
int magent_socket_queues(int fd, int *unread, int *unacknowledged);

/// fork() is unavailable in Swift: detaches from the terminal the way daemon(3)
/// does (fork, setsid, chdir "/", stdio to /dev/null). Returns 0 in the child,
/// -1 on failure; the parent exits with status 0.
int magent_daemonize(void);

#endif
