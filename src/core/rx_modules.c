/*
 * The subsystems, in initialization order.
 */

#include <rx_config.h>
#include <rx_core.h>
#include <rx_event.h>
#include <rx_cycle.h>

extern const rx_module_t rx_http_module;
extern const rx_module_t rx_file_store_module;
extern const rx_module_t rx_executor_module;
extern const rx_module_t rx_digest_cache_module;
extern const rx_module_t rx_goma_module;
extern const rx_module_t rx_grpc_module;

const rx_module_t *rx_modules[] = {&rx_http_module,
                                   &rx_file_store_module,
                                   &rx_executor_module,
                                   &rx_digest_cache_module,
                                   &rx_grpc_module,
                                   &rx_goma_module,
                                   NULL};
