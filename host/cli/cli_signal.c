/* Ctrl-C (SIGINT) and SIGTERM during training. The handler only sets a flag
 * that foil_train polls after every step; training then saves a checkpoint it
 * can resume from and stops. The handler resets itself (SA_RESETHAND), so a
 * second signal ends the process at once, which is safe too: every file is
 * written to a temporary name and renamed.
 *
 * The flag is the program's one global variable: a signal handler can reach
 * nothing else. */
#include <signal.h>
#include <string.h>

#include "cli.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    stop_requested = sig;
}

static void set_handler(void (*fn)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

volatile sig_atomic_t *cli_stop_begin(void) {
    set_handler(on_signal, SA_RESETHAND);
    return &stop_requested;
}

int cli_stop_requested(void) {
    return stop_requested != 0;
}

void cli_stop_end(void) {
    set_handler(SIG_DFL, 0);
}

int cli_stop_exit_code(void) {
    return 128 + (stop_requested ? (int)stop_requested : SIGINT);
}
