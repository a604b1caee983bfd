#ifndef ESCUCHA_CLASSIFY_WORKER_H
#define ESCUCHA_CLASSIFY_WORKER_H
/* Kafka worker; options parsed from argv[first..]. Returns exit code. */
int cl_serve(int argc, char **argv, int first);
#endif
