/* escucha-classify: Kafka worker (default / "serve") and operator
 * subcommands train, eval, urgent-eval, predict, retrain, rollback,
 * review-order. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "retrain.h"
#include "review.h"
#include "worker.h"

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "train") == 0) return cl_cmd_train(argc - 2, argv + 2);
  if (argc > 1 && strcmp(argv[1], "eval") == 0) return cl_cmd_eval(argc - 2, argv + 2);
  if (argc > 1 && strcmp(argv[1], "urgent-eval") == 0) return cl_cmd_urgent_eval(argc - 2, argv + 2);
  if (argc > 1 && strcmp(argv[1], "predict") == 0) return cl_cmd_predict(argc - 2, argv + 2, stdin, stdout);
  if (argc > 1 && strcmp(argv[1], "retrain") == 0) return cl_cmd_retrain(argc, argv);
  if (argc > 1 && strcmp(argv[1], "rollback") == 0) return cl_cmd_rollback(argc, argv);
  if (argc > 1 && strcmp(argv[1], "review-order") == 0) return cl_cmd_review_order(argc - 2, argv + 2, stdin, stdout);
  if (argc > 1 && strcmp(argv[1], "serve") == 0) return cl_serve(argc, argv, 2);
  return cl_serve(argc, argv, 1);
}
