#include "core/conn.h"

#include <stdlib.h>
#include <string.h>

#define SLAB_CONNS 256

void conn_list_append(struct conn_list *l, struct conn *c)
{
	c->next = NULL;
	c->prev = l->tail;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

void conn_list_remove(struct conn_list *l, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

static int pool_grow(struct conn_pool *p)
{
	if (p->nslabs == p->cap_slabs) {
		int cap = p->cap_slabs ? p->cap_slabs * 2 : 16;
		void **s = realloc(p->slabs, sizeof(*s) * (size_t)cap);
		if (!s)
			return -1;
		p->slabs = s;
		p->cap_slabs = cap;
	}
	struct conn *slab = calloc(SLAB_CONNS, sizeof(*slab));
	if (!slab)
		return -1;
	p->slabs[p->nslabs++] = slab;
	for (int i = SLAB_CONNS - 1; i >= 0; i--) {
		slab[i].next = p->free;
		p->free = &slab[i];
	}
	return 0;
}

struct conn *conn_pool_get(struct conn_pool *p)
{
	if (!p->free && pool_grow(p) < 0)
		return NULL;
	struct conn *c = p->free;
	p->free = c->next;
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timer = CONN_T_NONE;
	return c;
}

void conn_pool_put(struct conn_pool *p, struct conn *c)
{
	c->next = p->free;
	p->free = c;
}

void conn_pool_destroy(struct conn_pool *p)
{
	for (int i = 0; i < p->nslabs; i++)
		free(p->slabs[i]);
	free(p->slabs);
	while (p->nspare_out)
		free(p->spare_out[--p->nspare_out]);
	memset(p, 0, sizeof(*p));
}

int conn_reserve_input(struct conn *c, uint32_t room)
{
	if (c->in_cap - c->in_len >= room)
		return 0;
	uint32_t cap = c->in_len + room;
	char *n = realloc(c->in, cap);
	if (!n)
		return -1;
	c->in = n;
	c->in_cap = cap;
	return 0;
}

int conn_keep_input(struct conn *c, const char *in, uint32_t len)
{
	if (len == 0) {
		conn_drop_input(c);
		return 0;
	}
	if (in >= c->in && in < c->in + c->in_cap) {
		memmove(c->in, in, len);
		c->in_len = len;
		return 0;
	}
	c->in_len = 0;
	if (conn_reserve_input(c, len) < 0)
		return -1;
	memcpy(c->in, in, len);
	c->in_len = len;
	return 0;
}

void conn_drop_input(struct conn *c)
{
	if (c->in) { /* every request passes here: no call into the allocator */
		free(c->in);
		c->in = NULL;
	}
	c->in_len = c->in_cap = 0;
}

int conn_keep_output(struct conn_pool *p, struct conn *c, const char *data, uint32_t len)
{
	char *n;
	if (len > CONN_OUT_SPARE)
		n = malloc(len);
	else if (p->nspare_out)
		n = p->spare_out[--p->nspare_out];
	else
		n = malloc(CONN_OUT_SPARE);
	if (!n)
		return -1;
	memcpy(n, data, len);
	conn_drop_output(p, c);
	c->out = n;
	c->out_len = len;
	c->out_off = 0;
	return 0;
}

void conn_drop_output(struct conn_pool *p, struct conn *c)
{
	if (!c->out)
		;
	else if (c->out_len <= CONN_OUT_SPARE &&
		 p->nspare_out < (int)(sizeof(p->spare_out) / sizeof(p->spare_out[0])))
		p->spare_out[p->nspare_out++] = c->out;
	else
		free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
}
