/*
 * test_fileio.c — what atomic writes may replace and what inputs may block
 * (src/base/fileio.c): a symlinked output is written through, a dangling one
 * creates its target, a FIFO or "-" is written directly and never replaced,
 * a directory is refused, a link planted at the old guessable temporary name
 * is never followed, and a FIFO given as an input is refused at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clipc.h"
#include "clipc_util.h"
#include "base/fileio.h"
#include "harness.h"

static char *slurp(const char *path) {
    char *d = NULL;
    size_t n;
    return clipc_read_file(path, &d, &n) == CLIPC_OK ? d : NULL;
}

TEST(fileio_symlinked_output_is_written_through) {
    const char *dir = test_tmpdir();
    char target[512], link[512], dangling[512], made[512];
    snprintf(target, sizeof target, "%s/real.txt", dir);
    snprintf(link, sizeof link, "%s/link.txt", dir);
    REQUIRE_OK(clipc_write_file_atomic(target, "old", 3));
    REQUIRE(symlink("real.txt", link) == 0);
    REQUIRE_OK(clipc_write_file_atomic(link, "new", 3));
    struct stat st;
    REQUIRE(lstat(link, &st) == 0);
    CHECKF(S_ISLNK(st.st_mode), "the symbolic link was replaced by a file");
    char *d = slurp(target);
    CHECKF(d && !strcmp(d, "new"), "target holds '%s', expected 'new'", d ? d : "(unreadable)");
    free(d);
    /* a dangling link: its target is created, the link stays */
    snprintf(dangling, sizeof dangling, "%s/dangling.txt", dir);
    snprintf(made, sizeof made, "%s/made.txt", dir);
    REQUIRE(symlink("made.txt", dangling) == 0);
    REQUIRE_OK(clipc_write_file_atomic(dangling, "x", 1));
    REQUIRE(lstat(dangling, &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    d = slurp(made);
    CHECK(d && !strcmp(d, "x"));
    free(d);
}

TEST(fileio_fifo_output_written_directly_and_directory_refused) {
    const char *dir = test_tmpdir();
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/out.fifo", dir);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader, so the writer's open does not wait */
    REQUIRE(rd >= 0);
    REQUIRE_OK(clipc_write_file_atomic(fifo, "through", 7));
    char buf[16] = {0};
    ssize_t n = read(rd, buf, sizeof buf - 1);
    close(rd);
    CHECKF(n == 7 && !strcmp(buf, "through"), "read %zd bytes '%s' from the FIFO", n, buf);
    struct stat st;
    REQUIRE(lstat(fifo, &st) == 0);
    CHECKF(S_ISFIFO(st.st_mode), "the FIFO was replaced");
    CHECK(clipc_write_file_atomic(dir, "x", 1) == CLIPC_ERR_IO);
    CHECKF(strstr(clipc_last_error(), "is a directory"), "message: %s", clipc_last_error());
}

TEST(fileio_dash_is_standard_output) {
    const char *dir = test_tmpdir();
    char out[512];
    snprintf(out, sizeof out, "%s/stdout.txt", dir);
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(3);
        _exit(clipc_write_file_atomic("-", "to stdout", 9) == CLIPC_OK ? 0 : 4);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    char *d = slurp(out);
    CHECK(d && !strcmp(d, "to stdout"));
    free(d);
    struct stat st;
    char dash[600];
    snprintf(dash, sizeof dash, "%s/-", dir);
    CHECKF(stat(dash, &st) != 0, "a file named '-' was created");
}

/* The old temporary name was "<out>.tmp.<pid>": a link planted there made
 * clipc overwrite the link's target.  Now the name is not guessable and is
 * created with O_EXCL | O_NOFOLLOW: the victim stays untouched. */
TEST(fileio_planted_temp_link_is_not_followed) {
    const char *dir = test_tmpdir();
    char out[512], victim[512], planted[600];
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    snprintf(planted, sizeof planted, "%s.tmp.%ld", out, (long)getpid());
    REQUIRE_OK(clipc_write_file_atomic(victim, "precious", 8));
    REQUIRE(symlink(victim, planted) == 0);
    REQUIRE_OK(clipc_write_file_atomic(out, "data", 4));
    char *d = slurp(victim);
    CHECKF(d && !strcmp(d, "precious"), "the victim now holds '%s'", d ? d : "(unreadable)");
    free(d);
    d = slurp(out);
    CHECK(d && !strcmp(d, "data"));
    free(d);
}

TEST(fileio_fifo_input_refused_without_blocking) {
    const char *dir = test_tmpdir();
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/in.fifo", dir);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    char *d = NULL;
    size_t n = 0;
    CHECK(clipc_read_file(fifo, &d, &n) == CLIPC_ERR_IO);
    CHECKF(strstr(clipc_last_error(), "not a regular file"), "message: %s", clipc_last_error());
    CHECK(d == NULL);
    CHECK(file_open_regular(dir) < 0);
}

/* Every input that names a file refuses a FIFO at once: a model, an image,
 * a vocabulary, a caption file, an index's vector file (the CLI passes
 * these paths straight to the library). */
TEST(fileio_fifo_inputs_refused_by_every_reader) {
    const char *dir = test_tmpdir();
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/in.fifo", dir);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    clipc_model *m = NULL;
    CHECK(clipc_model_load(fifo, NULL, &m) != CLIPC_OK && m == NULL);
    CHECKF(strstr(clipc_last_error(), "not a regular file"), "model: %s", clipc_last_error());
    clipc_image img;
    CHECK(clipc_image_load(fifo, &img) != CLIPC_OK);
    CHECKF(strstr(clipc_last_error(), "not a regular file"), "image: %s", clipc_last_error());
    clipc_tokenizer *tok = NULL;
    CHECK(clipc_tokenizer_load(fifo, &tok) != CLIPC_OK);
    CHECKF(strstr(clipc_last_error(), "not a regular file"), "vocabulary: %s", clipc_last_error());
    clipc_dataset *ds = NULL;
    CHECK(clipc_dataset_load(fifo, NULL, &ds) != CLIPC_OK);
    CHECKF(strstr(clipc_last_error(), "not a regular file"), "dataset: %s", clipc_last_error());
    char cmd[700], *out = NULL;
    snprintf(cmd, sizeof cmd, "timeout 20 clipc encode --model '%s' --text hi 2>&1", fifo);
    int rc = run_capture(cmd, &out);
    CHECKF(rc == 1 && out && strstr(out, "not a regular file"), "clipc encode --model FIFO: rc %d: %s", rc,
           out ? out : "");
    free(out);
}
