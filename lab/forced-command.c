/*
 * The ForceCommand of every lab sshd and dropbear: `forced-command SOCKET HOST [STAGE] [--probe]`.
 * A tiny relay (about 1 ms to start, where a Node start cost ~36 ms of CPU per command): it speaks the lab socket
 * protocol of lab/protocol.ts, and the state and the simulator stay in the lab process, behind the socket.
 *   -> {"type":"exec","host":H,"stage":S,"command":$SSH_ORIGINAL_COMMAND or null}
 *   <- {"needStdin":true}   then -> {"type":"stdin","data":base64 of all of stdin}
 *   <- {"stdout":base64,"stderr":string,"exitCode":n}
 * Compiled and installed under /run/runbook-lab by lab/lab-user.ts. Every failure of ours is loud: a message on
 * stderr (the SSH client gets it) and exit 255, never empty output.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct { char *data; size_t len, cap; } Buf;

static void fail(const char *format, ...) {
  va_list ap;
  fputs("runbook-lab: ", stderr);
  va_start(ap, format);
  vfprintf(stderr, format, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(255);
}

static void grow(Buf *b, size_t more) {
  if (b->len + more + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more + 1) cap *= 2;
  b->data = realloc(b->data, cap);
  if (!b->data) fail("the forced command failed: out of memory");
  b->cap = cap;
}

static void put(Buf *b, const char *s, size_t n) {
  grow(b, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = 0;
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string. Bytes past ASCII go as they are: the lab decodes the line as UTF-8, as it did Node's. */
static void put_json(Buf *b, const char *s) {
  puts_(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') { esc[0] = '\\'; esc[1] = (char)*p; put(b, esc, 2); }
    else if (*p < 0x20 || *p == 0x7f) { snprintf(esc, sizeof esc, "\\u%04x", *p); puts_(b, esc); }
    else put(b, (const char *)p, 1);
  }
  puts_(b, "\"");
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_base64(Buf *b, const unsigned char *s, size_t n) {
  grow(b, (n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
    char q[4] = { B64[v >> 18 & 63], B64[v >> 12 & 63], i + 1 < n ? B64[v >> 6 & 63] : '=', i + 2 < n ? B64[v & 63] : '=' };
    put(b, q, 4);
  }
}

static void base64_decode(const char *s, size_t n, Buf *out) {
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    const char *at = s[i] ? strchr(B64, s[i]) : NULL;
    if (!at) continue; /* padding */
    v = v << 6 | (unsigned)(at - B64);
    bits += 6;
    if (bits >= 8) { bits -= 8; char c = (char)(v >> bits & 0xff); put(out, &c, 1); }
  }
}

static void put_utf8(Buf *b, unsigned cp) {
  char u[4];
  if (cp < 0x80) { u[0] = (char)cp; put(b, u, 1); }
  else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); put(b, u, 2); }
  else if (cp < 0x10000) { u[0] = (char)(0xe0 | cp >> 12); u[1] = (char)(0x80 | (cp >> 6 & 63)); u[2] = (char)(0x80 | (cp & 63)); put(b, u, 3); }
  else { u[0] = (char)(0xf0 | cp >> 18); u[1] = (char)(0x80 | (cp >> 12 & 63)); u[2] = (char)(0x80 | (cp >> 6 & 63)); u[3] = (char)(0x80 | (cp & 63)); put(b, u, 4); }
}

static unsigned hex4(const char **p) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++, (*p)++) {
    char c = **p;
    if (c >= '0' && c <= '9') v = v * 16 + (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v = v * 16 + (unsigned)(c - 'A' + 10);
    else fail("the lab answered a malformed \\u escape");
  }
  return v;
}

/* Parse the JSON string at *p (on its opening quote) into out; a lone surrogate becomes U+FFFD, as Node writes it. */
static void json_string(const char **p, Buf *out) {
  if (**p != '"') fail("the lab answered something else than a string");
  for ((*p)++; **p != '"'; (*p)++) {
    if (!**p) fail("the lab answered an unterminated string");
    if (**p != '\\') { put(out, *p, 1); continue; }
    char c = *++*p;
    switch (c) {
      case 'b': put(out, "\b", 1); break;
      case 'f': put(out, "\f", 1); break;
      case 'n': put(out, "\n", 1); break;
      case 'r': put(out, "\r", 1); break;
      case 't': put(out, "\t", 1); break;
      case 'u': {
        (*p)++;
        unsigned cp = hex4(p);
        if (cp >= 0xd800 && cp < 0xdc00 && (*p)[0] == '\\' && (*p)[1] == 'u') {
          const char *q = *p + 2;
          unsigned lo = hex4(&q);
          if (lo >= 0xdc00 && lo < 0xe000) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); *p = q; }
        }
        if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;
        put_utf8(out, cp);
        (*p)--;
        break;
      }
      default: if (!c) fail("the lab answered an unterminated string"); put(out, &c, 1);
    }
  }
  (*p)++;
}

static void skip_ws(const char **p) { while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n') (*p)++; }

typedef struct { int need_stdin, has_exit; long exit_code; Buf out, err; } Reply;

/* The lab's replies are flat objects of strings, numbers and booleans. */
static void parse_reply(const char *line, Reply *r) {
  const char *p = line;
  skip_ws(&p);
  if (*p++ != '{') fail("the lab answered something else than an object: %.200s", line);
  for (skip_ws(&p); *p != '}'; skip_ws(&p)) {
    Buf key = {0};
    json_string(&p, &key);
    skip_ws(&p);
    if (*p++ != ':') fail("the lab answered a malformed object: %.200s", line);
    skip_ws(&p);
    const char *k = key.data ? key.data : "";
    if (*p == '"') {
      Buf value = {0};
      json_string(&p, &value);
      if (!strcmp(k, "stdout")) base64_decode(value.data ? value.data : "", value.len, &r->out);
      else if (!strcmp(k, "stderr")) put(&r->err, value.data ? value.data : "", value.len);
      free(value.data);
    } else if (!strncmp(p, "true", 4)) { if (!strcmp(k, "needStdin")) r->need_stdin = 1; p += 4; }
    else if (!strncmp(p, "false", 5)) p += 5;
    else if (!strncmp(p, "null", 4)) p += 4;
    else {
      char *end;
      long n = strtol(p, &end, 10);
      if (end == p) fail("the lab answered a value this relay does not know: %.200s", line);
      if (!strcmp(k, "exitCode")) { r->exit_code = n; r->has_exit = 1; }
      p = end;
    }
    free(key.data);
    skip_ws(&p);
    if (*p == ',') p++;
    else if (*p != '}') fail("the lab answered a malformed object: %.200s", line);
  }
}

static void send_all(int fd, const char *data, size_t n) {
  while (n) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("the lab closed the connection before answering (%s)", strerror(errno));
    data += w;
    n -= (size_t)w;
  }
}

static void write_all(int fd, const char *data, size_t n) {
  while (n) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* the client went away: nobody to tell */
    data += w;
    n -= (size_t)w;
  }
}

/* Read the next line from the socket into line (without its newline); fails loudly if the lab closes first. */
static void read_line(int fd, Buf *in, Buf *line) {
  for (;;) {
    char *nl = in->data ? memchr(in->data, '\n', in->len) : NULL;
    if (nl) {
      size_t n = (size_t)(nl - in->data);
      line->len = 0;
      put(line, in->data, n);
      memmove(in->data, nl + 1, in->len - n - 1);
      in->len -= n + 1;
      return;
    }
    grow(in, 65536);
    ssize_t r = read(fd, in->data + in->len, in->cap - in->len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail("the lab closed the connection before answering");
    in->len += (size_t)r;
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  int probe = argc > 1 && !strcmp(argv[argc - 1], "--probe");
  if (probe) argc--;
  if (argc < 3 || !*argv[1] || !*argv[2]) fail("usage: forced-command SOCKET HOST [STAGE] [--probe]");
  const char *socket_path = argv[1], *host = argv[2], *stage = argc > 3 ? argv[3] : "openssh";

  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(socket_path) >= sizeof addr.sun_path) fail("the lab socket path is too long: %s", socket_path);
  strcpy(addr.sun_path, socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    fail("the lab is not answering on %s (uid %d): %s", socket_path, (int)getuid(), strerror(errno));
  if (probe) return 0;

  Buf msg = {0};
  puts_(&msg, "{\"type\":\"exec\",\"host\":");
  put_json(&msg, host);
  puts_(&msg, ",\"stage\":");
  put_json(&msg, stage);
  puts_(&msg, ",\"command\":");
  const char *command = getenv("SSH_ORIGINAL_COMMAND");
  if (command) put_json(&msg, command); else puts_(&msg, "null");
  /* Our pid: a test can drop the SSH session carrying this command (lab/faults.ts). */
  char pid[32];
  snprintf(pid, sizeof pid, ",\"pid\":%ld}\n", (long)getpid());
  puts_(&msg, pid);
  send_all(fd, msg.data, msg.len);

  Buf in = {0}, line = {0};
  for (;;) {
    read_line(fd, &in, &line);
    if (!line.len) continue;
    Reply reply = {0};
    parse_reply(line.data, &reply);
    if (reply.need_stdin) {
      Buf data = {0};
      for (;;) {
        grow(&data, 65536);
        ssize_t r = read(0, data.data + data.len, data.cap - data.len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("the forced command failed: reading stdin: %s", strerror(errno));
        if (r == 0) break;
        data.len += (size_t)r;
      }
      msg.len = 0;
      puts_(&msg, "{\"type\":\"stdin\",\"data\":\"");
      put_base64(&msg, (const unsigned char *)(data.data ? data.data : ""), data.len);
      puts_(&msg, "\"}\n");
      send_all(fd, msg.data, msg.len);
      free(data.data);
      continue;
    }
    if (!reply.has_exit) fail("the lab answered without an exit status: %.200s", line.data);
    close(fd);
    write_all(2, reply.err.data ? reply.err.data : "", reply.err.len);
    write_all(1, reply.out.data ? reply.out.data : "", reply.out.len);
    return (int)(reply.exit_code & 0xff);
  }
}
