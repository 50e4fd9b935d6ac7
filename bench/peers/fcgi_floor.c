/* The floor of any libfcgi responder behind nginx: FCGI_WORKERS threads (bench/run_all.py: 64, keycloak-fcgi's default), each
 * with its own FCGX_Request, answering every request with a fixed 200 JSON body and doing
 * nothing else: no parameters read, no routing, no logging, no metrics. bench/run_all.py puts
 * it behind the same TLS nginx as keycloak-fcgi (same kept-connection upstream settings), so
 * the gap between `limit` and `fcgi_floor` is what the FastCGI hop itself costs on this
 * machine, and the gap between `fcgi_floor` and `fcgi_cache` is keycloak-fcgi's own work.
 *
 *   cc -O2 -o fcgi_floor fcgi_floor.c -lfcgi -lpthread && ./fcgi_floor /path/to.sock
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int listen_fd;

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request request;
    if (FCGX_InitRequest(&request, listen_fd, 0) != 0) return NULL;
    while (FCGX_Accept_r(&request) >= 0) {
        FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}", request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s /path/to.sock\n", argv[0]);
        return 2;
    }
    const char *workers_env = getenv("FCGI_WORKERS");
    int workers = workers_env ? atoi(workers_env) : 16;
    if (FCGX_Init() != 0) return 1;
    listen_fd = FCGX_OpenSocket(argv[1], 1024);
    if (listen_fd < 0) return 1;
    pthread_t threads[256];
    if (workers < 1 || workers > 256) workers = 16;
    for (int i = 0; i < workers; i++) pthread_create(&threads[i], NULL, serve, NULL);
    for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);
    return 0;
}
