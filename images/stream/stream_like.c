/*
 * stream_like.c - a STREAM-style memory bandwidth benchmark for benchfarm.
 *
 * Written for benchfarm after the design of John D. McCalpin's STREAM
 * (https://www.cs.virginia.edu/stream/): the four kernels Copy (c = a),
 * Scale (b = q*c), Add (c = a + b) and Triad (a = b + q*c) over three double
 * arrays much larger than the caches; each kernel is timed NTIMES times and the
 * best (minimum) time after the first trial gives the rate, counting the bytes
 * each kernel reads and writes (2 arrays for Copy/Scale, 3 for Add/Triad).
 * It is NOT the official stream.c; results are labelled "STREAM-like".
 *
 * Output: one JSON line on stdout, e.g.
 * {"copy_mb_s": ..., "scale_mb_s": ..., "add_mb_s": ..., "triad_mb_s": ..., "array_size": N, ...}
 * Exit 1 when the final array values fail the same check STREAM makes.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    long n = v ? strtol(v, NULL, 10) : 0;
    return n > 0 ? n : fallback;
}

int main(void) {
    const long n = env_long("STREAM_ARRAY_SIZE", 20000000L);
    const int ntimes = (int)env_long("STREAM_NTIMES", 10);
    const double q = 3.0;
    double *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n), *c = malloc(sizeof(double) * n);
    if (!a || !b || !c || ntimes < 2) {
        fprintf(stderr, "stream-like: cannot allocate 3 arrays of %ld doubles (or STREAM_NTIMES < 2)\n", n);
        return 2;
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
#pragma omp parallel for
    for (long j = 0; j < n; j++) { a[j] = 1.0; b[j] = 2.0; c[j] = 0.0; }
#pragma omp parallel for
    for (long j = 0; j < n; j++) a[j] = 2.0 * a[j];

    double best[4] = {FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX};
    const double bytes[4] = {2.0 * sizeof(double) * n, 2.0 * sizeof(double) * n,
                             3.0 * sizeof(double) * n, 3.0 * sizeof(double) * n};
    for (int k = 0; k < ntimes; k++) {
        double t[4];
        t[0] = now();
#pragma omp parallel for
        for (long j = 0; j < n; j++) c[j] = a[j];
        t[0] = now() - t[0];
        t[1] = now();
#pragma omp parallel for
        for (long j = 0; j < n; j++) b[j] = q * c[j];
        t[1] = now() - t[1];
        t[2] = now();
#pragma omp parallel for
        for (long j = 0; j < n; j++) c[j] = a[j] + b[j];
        t[2] = now() - t[2];
        t[3] = now();
#pragma omp parallel for
        for (long j = 0; j < n; j++) a[j] = b[j] + q * c[j];
        t[3] = now() - t[3];
        if (k > 0)  /* the first trial warms pages and caches */
            for (int i = 0; i < 4; i++) if (t[i] < best[i]) best[i] = t[i];
    }
    /* the expected values after ntimes trials, as STREAM checks them */
    double ea = 1.0, eb = 2.0, ec = 0.0;
    ea = 2.0 * ea;
    for (int k = 0; k < ntimes; k++) { ec = ea; eb = q * ec; ec = ea + eb; ea = eb + q * ec; }
    double ra = 0, rb = 0, rc = 0;
    for (long j = 0; j < n; j++) { ra += fabs(a[j] - ea); rb += fabs(b[j] - eb); rc += fabs(c[j] - ec); }
    const double eps = 1e-13;
    int ok = ra / n / fabs(ea) < eps && rb / n / fabs(eb) < eps && rc / n / fabs(ec) < eps;
    printf("{\"copy_mb_s\": %.1f, \"scale_mb_s\": %.1f, \"add_mb_s\": %.1f, \"triad_mb_s\": %.1f, "
           "\"array_size\": %ld, \"ntimes\": %d, \"threads\": %d, \"validated\": %s, \"implementation\": \"stream-like\"}\n",
           1e-6 * bytes[0] / best[0], 1e-6 * bytes[1] / best[1], 1e-6 * bytes[2] / best[2], 1e-6 * bytes[3] / best[3],
           n, ntimes, threads, ok ? "true" : "false");
    free(a); free(b); free(c);
    return ok ? 0 : 1;
}
