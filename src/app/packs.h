/* app/packs.h -- node packs: the built-in ones and shared objects from a directory.
 *
 * main.c calls app_register_packs() once before graph_start(). External packs are
 * `*.so` files in the nodes directory exporting `int ci_pack_init(const ci_host *)`;
 * a pack that fails to load or init is logged and skipped, never fatal.
 */
#ifndef CI_APP_PACKS_H
#define CI_APP_PACKS_H

/* Where external packs are looked for; NULL (default) means $COMFYUI_IPEX_NODES_DIR,
 * else none. */
void app_set_nodes_dir(const char *dir);
/* Registers the built-in packs, then loads the external ones. Returns 0, or -1 when
 * a built-in pack failed. */
int app_register_packs(void);

#endif
