/* Unit tests for the followed-file source: every logrotate mode loses and repeats no line,
 * restarts resume at the saved position (also after a rotation while stopped), read-back
 * is bounded by time, long lines are cut. */
#include "check.h"
#include "guard/follow.h"
#include "util/buf.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64], logp[128];
static struct buf got;
static int nlines;

static void on_line(void *ud, struct ffile *f, struct str line)
{
    buf_putstr(&got, line);
    buf_putc(&got, '\n');
    nlines++;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mw-follow.XXXXXX");
    if (!mkdtemp(dir)) abort();
    snprintf(logp, sizeof logp, "%s/mail.log", dir);
    buf_free(&got);
    got = BUF_INIT(1 << 26);
    nlines = 0;
}

static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s", dir);
    /* remove the files we made (no shell) */
    const char *names[] = { "mail.log", "mail.log.1", "mail.log.2", "other.log" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(cmd);
}

static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) abort();
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) abort();
    close(fd);
}

static void writes(int fd, const char *text)
{
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) abort();
}

static void t_basic_append_and_partial(void)
{
    setup();
    append(logp, "old line\n");
    struct follow *fw = follow_new(on_line, NULL);
    follow_add(fw, logp, NULL, 0, 1000);          /* no position, no read-back: the end */
    follow_process(fw, 1000);
    CHECK_INT(nlines, 0);
    append(logp, "a\nb\r\nc");
    follow_process(fw, 1000);
    CHECK_STR(buf_cstr(&got), "a\nb\n");
    append(logp, "ont\n");
    follow_process(fw, 1000);
    CHECK_STR(buf_cstr(&got), "a\nb\ncont\n");
    struct logpos lp;
    CHECK(ffile_pos(follow_get(fw, 0), &lp));
    CHECK_INT(lp.pos, 19);
    follow_free(fw);
    teardown();
}

static void t_rename_create_with_late_writes(void)
{
    setup();
    int w = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    struct follow *fw = follow_new(on_line, NULL);
    follow_set_grace(fw, 5);
    follow_add(fw, logp, NULL, 0, 1000);
    writes(w, "1\n2\n");
    follow_process(fw, 1000);
    char rot[160];
    snprintf(rot, sizeof rot, "%s.1", logp);
    rename(logp, rot);
    writes(w, "3\n");                             /* the daemon still writes to the old file */
    append(logp, "n1\n");                         /* the new file */
    follow_process(fw, 1001);
    writes(w, "4\n5");                            /* still, for a while, unterminated */
    append(logp, "n2\n");
    follow_process(fw, 1002);
    close(w);
    follow_tick(fw, 1010);                        /* grace over: the last line is delivered */
    CHECK_INT(nlines, 7);
    CHECK(strstr(buf_cstr(&got), "1\n2\n3\n") == buf_cstr(&got));
    CHECK(strstr(buf_cstr(&got), "4\n") && strstr(buf_cstr(&got), "\n5\n"));
    CHECK(strstr(buf_cstr(&got), "n1\n") && strstr(buf_cstr(&got), "n2\n"));
    append(logp, "n3\n");
    follow_process(fw, 1011);
    CHECK_INT(nlines, 8);
    follow_free(fw);
    teardown();
}

static void t_copytruncate(void)
{
    setup();
    append(logp, "Nov 22 10:00:00 h p: first\n");
    struct follow *fw = follow_new(on_line, NULL);
    follow_add(fw, logp, NULL, 0, 1000);
    append(logp, "x1\nx2\n");
    follow_process(fw, 1000);
    CHECK_INT(nlines, 2);
    if (truncate(logp, 0) < 0) abort();
    append(logp, "y1\n");
    follow_process(fw, 1001);
    CHECK_STR(buf_cstr(&got), "x1\nx2\ny1\n");
    /* truncated and regrown past our offset between two looks: the first line's hash tells */
    if (truncate(logp, 0) < 0) abort();
    append(logp, "Nov 22 11:00:00 h p: another first line, longer than before\nz1\nz2\n");
    follow_process(fw, 1002);
    CHECK_INT(nlines, 6);
    CHECK(strstr(buf_cstr(&got), "y1\nNov 22 11:00:00 h p: another first line, longer than before\nz1\nz2\n") != NULL);
    follow_free(fw);
    teardown();
}

static void t_delete_recreate(void)
{
    setup();
    append(logp, "");
    struct follow *fw = follow_new(on_line, NULL);
    follow_set_grace(fw, 0);
    follow_add(fw, logp, NULL, 0, 1000);
    append(logp, "a\n");
    follow_process(fw, 1000);
    unlink(logp);
    follow_process(fw, 1001);
    append(logp, "b\nc\n");
    follow_process(fw, 1002);
    CHECK_STR(buf_cstr(&got), "a\nb\nc\n");
    /* missing at start, appears later */
    struct follow *fw2 = follow_new(on_line, NULL);
    char other[160];
    snprintf(other, sizeof other, "%s/other.log", dir);
    follow_add(fw2, other, NULL, 600, 1000);
    follow_tick(fw2, 1001);
    append(other, "o1\n");
    follow_tick(fw2, 1002);
    CHECK(strstr(buf_cstr(&got), "c\no1\n") != NULL);
    follow_free(fw2);
    follow_free(fw);
    teardown();
}

static void t_restart_resume(void)
{
    setup();
    append(logp, "l1\nl2\n");
    struct follow *fw = follow_new(on_line, NULL);
    follow_add(fw, logp, NULL, 0, 1000);
    append(logp, "l3\nl4\n");
    follow_process(fw, 1000);
    struct logpos lp;
    ffile_pos(follow_get(fw, 0), &lp);
    follow_free(fw);
    append(logp, "l5\n");                         /* written while we were stopped */
    fw = follow_new(on_line, NULL);
    follow_add(fw, logp, &lp, 600, 2000);
    follow_process(fw, 2000);
    CHECK_STR(buf_cstr(&got), "l3\nl4\nl5\n");
    ffile_pos(follow_get(fw, 0), &lp);
    follow_free(fw);
    /* rotated while stopped: the rest of the old file, then the new one */
    append(logp, "l6\n");
    char rot[160];
    snprintf(rot, sizeof rot, "%s.1", logp);
    rename(logp, rot);
    append(logp, "m1\n");
    fw = follow_new(on_line, NULL);
    follow_add(fw, logp, &lp, 600, 3000);
    follow_process(fw, 3000);
    CHECK_STR(buf_cstr(&got), "l3\nl4\nl5\nl6\nm1\n");
    follow_free(fw);
    teardown();
}

static void t_readback_bounded(void)
{
    setup();
    /* 2000 lines, one a minute, the year rule resolves against now */
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = 126; tm.tm_mon = 10; tm.tm_mday = 20; tm.tm_hour = 0;
    setenv("TZ", "UTC", 1);
    tzset();
    time_t t0 = timegm(&tm);
    int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (int i = 0; i < 2000; i++) {
        time_t t = t0 + i * 60;
        struct tm x;
        gmtime_r(&t, &x);
        char line[128], ts[32];
        strftime(ts, sizeof ts, "%b %e %H:%M:%S", &x);
        snprintf(line, sizeof line, "%s host prog[1]: line %d\n", ts, i);
        writes(fd, line);
    }
    close(fd);
    int64_t now = (int64_t)t0 + 1999 * 60 + 30;
    struct follow *fw = follow_new(on_line, NULL);
    follow_add(fw, logp, NULL, 600, now);         /* last 10 minutes: lines 1990..1999 */
    follow_process(fw, now);
    CHECK_INT(nlines, 10);
    CHECK(strstr(buf_cstr(&got), "line 1990\n") != NULL);
    CHECK(strstr(buf_cstr(&got), "line 1989\n") == NULL);
    follow_free(fw);
    fd = open(logp, O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    /* a read-back limit in bytes stops the scan early */
    uint64_t off = follow_readback_offset(fd, (uint64_t)st.st_size, now - 100000, now, 4096);
    CHECK((uint64_t)st.st_size - off <= 4096 + 65536);
    CHECK_INT(follow_readback_offset(fd, (uint64_t)st.st_size, 0, now, 1 << 30), 0);
    close(fd);
    teardown();
}

static void t_long_line_cut(void)
{
    setup();
    append(logp, "");
    struct follow *fw = follow_new(on_line, NULL);
    follow_add(fw, logp, NULL, 0, 1000);
    size_t big = FOLLOW_MAX_LINE * 3;
    char *s = malloc(big + 8);
    memset(s, 'A', big);
    memcpy(s + big, "\nok\n", 5);
    append(logp, s);
    free(s);
    follow_process(fw, 1000);
    CHECK_INT(nlines, 2);
    CHECK_INT(got.len, FOLLOW_MAX_LINE + 1 + 3);
    CHECK(ffile_cut_lines(follow_get(fw, 0)) >= 1);
    follow_free(fw);
    teardown();
}

int main(void)
{
    RUN(t_basic_append_and_partial);
    RUN(t_rename_create_with_late_writes);
    RUN(t_copytruncate);
    RUN(t_delete_recreate);
    RUN(t_restart_resume);
    RUN(t_readback_bounded);
    RUN(t_long_line_cut);
    buf_free(&got);
    return check_done();
}
