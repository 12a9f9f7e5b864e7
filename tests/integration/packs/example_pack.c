/* example_pack.c -- an external node pack, built as a shared object by
 * test_graph_packs.py: the example of README.md ("Writing a node"). */
#include "comfyui_ipex/node.h"

static int add_run(ci_call *c) {
    return ci_set_int(c, 0, ci_get_int(c, "a") + ci_get_int(c, "b"));
}

static const ci_output_def add_out[] = { { "INT", "sum", 0, NULL } };
static const ci_node_def add_node = {
    .abi_version = CI_ABI_VERSION, .name = "AddInts", .display_name = "Add Ints",
    .category = "utils", .python_module = "custom_nodes.example",
    .inputs = "{\"required\": {\"a\": [\"INT\", {\"default\": 0}], \"b\": [\"INT\", {\"default\": 0}]}}",
    .outputs = add_out, .n_outputs = 1, .run = add_run,
};

int ci_pack_init(const ci_host *host) { return host->register_node(&add_node); }
