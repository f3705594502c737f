/*
 * tests/shim/mt_workload.c - a multi-threaded program of our own for the
 * real-program suite: threads build and tear down linked lists, hand half of
 * their blocks to the next thread to free, and print a checksum that must
 * not depend on the allocator. Usage: mt_workload [threads] [rounds]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; unsigned long v; char pad[]; };

static int nthreads = 4, rounds = 200;
static struct node *volatile *mailbox;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long total;

static void *worker(void *arg)
{
    long t = (long)arg;
    unsigned long sum = 0, seed = (unsigned long)t * 2654435761u + 1;
    for (int r = 0; r < rounds; r++) {
        struct node *head = NULL;
        for (int i = 0; i < 500; i++) {
            seed = seed * 6364136223846793005ul + 1442695040888963407ul;
            size_t extra = (seed >> 33) % 600;
            struct node *n = malloc(sizeof *n + extra);
            if (!n) abort();
            memset(n->pad, (int)(seed & 0xff), extra);
            n->v = seed >> 40;
            n->next = head;
            head = n;
        }
        /* free half here, pass the other half to the next thread */
        struct node *keep = NULL;
        while (head) {
            struct node *n = head;
            head = n->next;
            sum += n->v;
            if (n->v & 1) { n->next = keep; keep = n; }
            else free(n);
        }
        pthread_mutex_lock(&mu);
        struct node *in = mailbox[t];
        mailbox[(t + 1) % nthreads] = keep ? keep : mailbox[(t + 1) % nthreads];
        if (keep && in == mailbox[(t + 1) % nthreads]) in = NULL;
        mailbox[t] = NULL;
        pthread_mutex_unlock(&mu);
        while (in) { struct node *n = in; in = n->next; free(n); }
        char *s = strdup("a string that lives briefly");
        void *big = calloc(1, 100000 + (size_t)r);
        free(big);
        free(s);
    }
    pthread_mutex_lock(&mu);
    total += sum;
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) nthreads = atoi(argv[1]);
    if (argc > 2) rounds = atoi(argv[2]);
    if (nthreads < 1 || nthreads > 64 || rounds < 1) {
        fprintf(stderr, "usage: mt_workload [threads 1-64] [rounds >= 1]\n");
        return 2;
    }
    mailbox = calloc((size_t)nthreads, sizeof *mailbox);
    pthread_t *th = malloc(sizeof *th * (size_t)nthreads);
    for (long t = 0; t < nthreads; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < nthreads; t++) {
        struct node *in = mailbox[t];
        while (in) { struct node *n = in; in = n->next; free(n); }
    }
    printf("checksum %lu\n", total);
    free(th);
    free((void *)mailbox);
    return 0;
}
