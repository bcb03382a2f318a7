#include "core/shm_counters.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/upstream_state.h"

#define SHM_MAGIC 0x68657264u /* "herd" */

_Static_assert(SHM_SHARED_SIZE % 128 == 0, "the upstream array after it must stay aligned");

/* First cache lines of the region; blocks start after it. */
struct shm_header {
	uint32_t magic, slots, banks, wcap;
} __attribute__((aligned(128)));

/* The load blocks, rounded up so the counter blocks stay on 128 bytes. */
static size_t loads_size(int slots)
{
	size_t n = sizeof(struct shm_proc_load) * (size_t)slots * SHM_BANKS;
	return (n + 127) & ~(size_t)127;
}

static size_t blocks_size(int slots, int wcap)
{
	return sizeof(struct worker_counters) * (size_t)slots * SHM_BANKS * (size_t)wcap;
}

static size_t region_size(int slots, int wcap)
{
	return sizeof(struct shm_header) + loads_size(slots) + blocks_size(slots, wcap) +
	       SHM_SHARED_SIZE + upstream_shared_size();
}

static int map(struct shm_counters *m, int fd, size_t size, int slots, int wcap)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	m->fd = fd;
	m->size = size;
	m->base = p;
	m->loads = (struct shm_proc_load *)((char *)p + sizeof(struct shm_header));
	m->blocks = (struct worker_counters *)((char *)m->loads + loads_size(slots));
	m->shared = (char *)m->blocks + blocks_size(slots, wcap);
	/* SHM_SHARED_SIZE is a multiple of 128: the array stays aligned. */
	m->upstreams = (struct upstream_shared *)((char *)m->shared + SHM_SHARED_SIZE);
	return 0;
}

int shm_counters_create(struct shm_counters *m, int slots, int wcap)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	size_t size = region_size(slots, wcap);
	int fd = memfd_create("herd-counters", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0 || map(m, fd, size, slots, wcap) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	struct shm_header *h = m->base;
	*h = (struct shm_header){SHM_MAGIC, (uint32_t)slots, SHM_BANKS, (uint32_t)wcap};
	m->slots = slots;
	m->wcap = wcap;
	counters_reset(m->blocks, slots * SHM_BANKS * wcap);
	return 0;
}

int shm_counters_attach(struct shm_counters *m, int fd)
{
	struct shm_header h;
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -1;
	if (h.magic != SHM_MAGIC || h.banks != SHM_BANKS || h.slots == 0 || h.wcap == 0) {
		errno = EINVAL;
		return -1;
	}
	size_t size = region_size((int)h.slots, (int)h.wcap);
	off_t have = lseek(fd, 0, SEEK_END);
	if (have < (off_t)size) {
		errno = EINVAL;
		return -1;
	}
	if (map(m, fd, size, (int)h.slots, (int)h.wcap) < 0)
		return -1;
	m->slots = (int)h.slots;
	m->wcap = (int)h.wcap;
	return 0;
}

void shm_counters_close(struct shm_counters *m)
{
	if (m->base)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

struct worker_counters *shm_counters_bank(const struct shm_counters *m, int slot, int bank)
{
	return m->blocks + ((size_t)slot * SHM_BANKS + (size_t)bank) * (size_t)m->wcap;
}

struct shm_proc_load *shm_counters_load(const struct shm_counters *m, int slot, int bank)
{
	return m->loads + (size_t)slot * SHM_BANKS + (size_t)bank;
}

long shm_counters_clear_live(const struct shm_counters *m, int slot, int bank)
{
	struct worker_counters *c = shm_counters_bank(m, slot, bank);
	struct shm_proc_load *load = shm_counters_load(m, slot, bank);
	/* The process's slots of --max-conns also count what it accepted and
	 * no worker had opened yet (the listener mode's hand-off queues, an
	 * accept a ring completed): those die with it too. */
	long accepted = atomic_exchange_explicit(&load->conns_open, 0, memory_order_relaxed);
	atomic_store_explicit(&load->live, 0, memory_order_relaxed);
	long held = 0;
	for (int i = 0; i < m->wcap; i++) {
		held += (long)CTR_GET(&c[i], conns_active);
		atomic_store_explicit(&c[i].conns_active, 0, memory_order_relaxed);
		atomic_store_explicit(&c[i].running, 0, memory_order_relaxed);
	}
	return accepted > held ? accepted : held;
}
