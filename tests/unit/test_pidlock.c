/* test_pidlock: one holder at a time, the holder's pid is named, and a
 * holder that dies however it dies (kill -9) leaves no stale lock.
 *
 * POSIX record locks belong to a process, so the competing holder is a
 * forked child that takes the lock and waits on a pipe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pidlock.h"

typedef struct fixture {
    char dir[64];
    char path[96];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_pidlock.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/x.lock", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Forks a child that takes the lock, reports on ready[1] and holds it
 * until killed. Returns its pid. */
static pid_t spawn_holder(const char *path)
{
    int ready[2];
    char c;
    pid_t pid;

    assert_int_equal(pipe(ready), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        pid_t holder;
        close(ready[0]);
        if (pidlock_acquire(path, "child note", &holder, err, sizeof err) < 0)
            _exit(1);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    return pid;
}

static void kill_hard(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_second_holder_refused_with_pid(void **state)
{
    fixture *f = *state;
    char err[256], note[64];
    pid_t holder = -5, child = spawn_holder(f->path);

    assert_int_equal(pidlock_acquire(f->path, "me", &holder, err, sizeof err), -1);
    assert_int_equal(holder, child);
    char want[200];
    snprintf(want, sizeof want, "lock file %s is held by pid %ld", f->path, (long)child);
    assert_string_equal(err, want);
    assert_int_equal(pidlock_holder(f->path, err, sizeof err), child);
    pidlock_note(f->path, note, sizeof note);
    assert_string_equal(note, "child note");
    /* Asking twice did not take or drop anything. */
    assert_int_equal(pidlock_holder(f->path, err, sizeof err), child);
    kill_hard(child);
}

/* kill -9 of the holder frees the lock: nothing stale to clean up. */
static void test_killed_holder_leaves_no_lock(void **state)
{
    fixture *f = *state;
    char err[256], note[64];
    pid_t holder, child = spawn_holder(f->path);
    struct stat st;

    kill_hard(child);
    assert_int_equal(pidlock_holder(f->path, err, sizeof err), 0);
    int fd = pidlock_acquire(f->path, "second", &holder, err, sizeof err);
    assert_true(fd >= 0);
    pidlock_note(f->path, note, sizeof note);
    assert_string_equal(note, "second");
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    pidlock_release(fd);
    assert_int_equal(pidlock_holder(f->path, err, sizeof err), 0);
}

static void test_no_file_means_no_holder(void **state)
{
    fixture *f = *state;
    char err[256];

    assert_int_equal(pidlock_holder(f->path, err, sizeof err), 0);
}

static void test_missing_directory(void **state)
{
    fixture *f = *state;
    char err[256], path[160], want[300];
    pid_t holder = -5;

    snprintf(path, sizeof path, "%s/no/such/x.lock", f->dir);
    assert_int_equal(pidlock_acquire(path, "", &holder, err, sizeof err), -1);
    assert_int_equal(holder, 0);
    snprintf(want, sizeof want, "lock file %s: cannot open: No such file or directory; check that "
             "its directory exists and is writable", path);
    assert_string_equal(err, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_holder_refused_with_pid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_holder_leaves_no_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_file_means_no_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
