// openblas_sgemm: time OpenBLAS cblas_sgemm on the shapes given as arguments
// ("name:tA:tB:m:n:k:batch", tA/tB are N or T) and print one line per shape:
//   openblas <name> <GFLOP/s>          (batch: a loop of cblas_sgemm, T threads inside each call)
//   openblas-par <name> <GFLOP/s>      (batch > 1: the batch split over T pthreads, 1 OpenBLAS thread each)
// T is $BENCH_THREADS (default 2).
// Each number is the best-of-run rate of a timed loop of >= MIN_SEC seconds.
// Built and run by gemm_openblas.sh.
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);

#define MIN_SEC 0.3
#define MAX_THREADS 64
static int THREADS = 2;  // from the environment: BENCH_THREADS

typedef struct {
  int tA, tB, m, n, k, batch;
  float *a, *b, *c;
  int lo, hi;
} job;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void run_range(job *j, int lo, int hi) {
  int lda = j->tA ? j->m : j->k, ldb = j->tB ? j->k : j->n;
  for (int i = lo; i < hi; i++)
    cblas_sgemm(CblasRowMajor, j->tA ? CblasTrans : CblasNoTrans, j->tB ? CblasTrans : CblasNoTrans,
                j->m, j->n, j->k, 1.0f, j->a + (size_t)i * j->m * j->k, lda,
                j->b + (size_t)i * j->k * j->n, ldb, 0.0f, j->c + (size_t)i * j->m * j->n, j->n);
}

static void *worker(void *p) {
  job *j = p;
  run_range(j, j->lo, j->hi);
  return NULL;
}

static void run_par(job *j) {
  pthread_t th[MAX_THREADS];
  job parts[MAX_THREADS];
  for (int t = 0; t < THREADS; t++) {
    parts[t] = *j;
    parts[t].lo = j->batch * t / THREADS;
    parts[t].hi = j->batch * (t + 1) / THREADS;
    pthread_create(&th[t], NULL, worker, &parts[t]);
  }
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
}

static double timeit(job *j, int par) {
  double flops = 2.0 * j->m * j->n * j->k * j->batch;
  if (par) run_par(j); else run_range(j, 0, j->batch);  // warm-up
  long iters = 0;
  double t0 = now(), t;
  do {
    if (par) run_par(j); else run_range(j, 0, j->batch);
    iters++;
    t = now() - t0;
  } while (t < MIN_SEC);
  return flops * iters / t / 1e9;
}

int main(int argc, char **argv) {
  const char *t = getenv("BENCH_THREADS");
  if (t && atoi(t) >= 1 && atoi(t) <= MAX_THREADS) THREADS = atoi(t);
  if (argc > 1 && strcmp(argv[1], "-info") == 0) {
    printf("OpenBLAS core %s, config %s\n", openblas_get_corename(), openblas_get_config());
    return 0;
  }
  for (int s = 1; s < argc; s++) {
    char name[128], ta, tb;
    job j;
    if (sscanf(argv[s], "%127[^:]:%c:%c:%d:%d:%d:%d", name, &ta, &tb, &j.m, &j.n, &j.k, &j.batch) != 7) {
      fprintf(stderr, "bad shape %s\n", argv[s]);
      return 2;
    }
    j.tA = ta == 'T';
    j.tB = tb == 'T';
    size_t na = (size_t)j.m * j.k * j.batch, nb = (size_t)j.k * j.n * j.batch, nc = (size_t)j.m * j.n * j.batch;
    j.a = malloc(na * sizeof(float));
    j.b = malloc(nb * sizeof(float));
    j.c = malloc(nc * sizeof(float));
    srand(1);
    for (size_t i = 0; i < na; i++) j.a[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < nb; i++) j.b[i] = (float)rand() / RAND_MAX - 0.5f;
    openblas_set_num_threads(THREADS);
    printf("openblas %s %.2f\n", name, timeit(&j, 0));
    if (j.batch > 1) {
      openblas_set_num_threads(1);
      printf("openblas-par %s %.2f\n", name, timeit(&j, 1));
    }
    fflush(stdout);
    free(j.a);
    free(j.b);
    free(j.c);
  }
  return 0;
}
