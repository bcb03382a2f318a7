/* Kernel TLS: the probe and the socket options (see net/ktls.h). */
#include "net/ktls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static int attach_ulp(int fd)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
}

bool ktls_available(char *why, size_t len)
{
	/* The ULP attaches only to an established connection. */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c = -1, s = -1;
	bool ok = false;
	const char *step = "socket";
	if (l < 0)
		goto out;
	step = "loopback listen";
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) < 0)
		goto out;
	step = "loopback connect";
	if ((c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (s = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
		goto out;
	step = "TCP_ULP tls";
	ok = attach_ulp(s) == 0;
out:
	if (!ok)
		snprintf(why, len, "%s: %s", step, strerror(errno));
	for (int *fd = (int[]){l, c, s}, i = 0; i < 3; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return ok;
}

/* The option's length follows from the cipher, the one field every
 * tls12_crypto_info_* starts with: no need to know how OpenSSL sized its
 * union of them. */
static socklen_t info_len(const struct tls_crypto_info *info)
{
	switch (info->cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		return sizeof(struct tls12_crypto_info_aes_gcm_128);
	case TLS_CIPHER_AES_GCM_256:
		return sizeof(struct tls12_crypto_info_aes_gcm_256);
	case TLS_CIPHER_CHACHA20_POLY1305:
		return sizeof(struct tls12_crypto_info_chacha20_poly1305);
	default:
		return 0;
	}
}

int ktls_start_tx(int fd, const void *crypto_info)
{
	socklen_t n = info_len(crypto_info);
	if (!n || attach_ulp(fd) < 0)
		return -1;
	return setsockopt(fd, SOL_TLS, TLS_TX, crypto_info, n);
}

int ktls_send_record(int fd, unsigned char type, const void *p, size_t n)
{
	char cbuf[CMSG_SPACE(sizeof(type))];
	struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(type));
	memcpy(CMSG_DATA(cm), &type, sizeof(type));
	ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	return k == (ssize_t)n ? 0 : -1;
}
