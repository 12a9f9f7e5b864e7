# comfyui-ipex build.
#
# Layout: every .c under src/ and nodes/ goes into build/libcomfyui.a, except the
# programs' entry points (src/app/main.c and src/tools/*.c, one program each).
# Unit tests are tests/unit/test_*.c (cmocka), one binary each; the integration
# tests are Python (pytest) and start the real daemon.  `make test` runs all of it
# through tests/run.sh, which prints the single closing line "N passed, N failed".

BUILD   ?= build
SHARED  ?= $(abspath ../shared)
PREFIX  ?= /usr/local
DATADIR ?= $(PREFIX)/share/comfyui-ipex
VERSION := 0.1.0

# Debian packages that ship .pc files; oneDNN 2.6 (libdnnl-dev) ships none.
PKGS    := libmicrohttpd libcjson libpng libsystemd level-zero libcrypto libutf8proc libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT      ?= -O2
SAN      ?=
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -pthread \
            -Isrc -Iinclude -I/usr/include/stb $(PKG_CFLAGS) $(SAN) \
            -DCI_VERSION='"$(VERSION)"' -DCI_DATADIR='"$(DATADIR)"' -MMD -MP
LDLIBS   += $(PKG_LIBS) -ldnnl -lm -fopenmp -pthread $(SAN)

LIB_SRC  := $(filter-out src/app/main.c src/tools/%.c,$(shell find src nodes -name '*.c' | sort))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libcomfyui.a
TOOLS    := $(patsubst src/tools/%.c,$(BUILD)/%,$(wildcard src/tools/*.c))
BENCH_SRC:= $(wildcard bench/*.c)
TESTS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
TEST_SUPPORT := $(wildcard tests/unit/support/*.c)

PROGRAMS := $(if $(wildcard src/app/main.c),$(BUILD)/comfyui-ipex) $(if $(BENCH_SRC),$(BUILD)/ipex-benchmark) $(TOOLS)

.PHONY: all deps run test unit asan fuzz ui install clean
# Keep test objects: they are intermediate in the pattern chain and make would delete them.
.SECONDARY:
all: $(PROGRAMS)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/comfyui-ipex: $(BUILD)/obj/src/app/main.o $(LIB)
	$(CC) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/ipex-benchmark: $(BENCH_SRC:%.c=$(BUILD)/obj/%.o) $(LIB)
	$(CC) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/%: $(BUILD)/obj/src/tools/%.o $(LIB)
	$(CC) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $^ -o $@ $(LDFLAGS) $(LDLIBS) -lcmocka

unit: deps $(PROGRAMS) $(TESTS)

# The synthetic SD1.5 checkpoint (2.1 GB, shared/spec/synthetic-checkpoint.md) that the
# io, CLIP and UNet tests read. Its layout comes from our own model code (synth-ckpt
# --model sd15; test_synth checks it equals shared/fixtures/sd15/keys.tsv), so it needs
# nothing outside the repository; written only when missing.
SD15_SYNTH := $(BUILD)/sd15-synth.safetensors
$(SD15_SYNTH): | $(BUILD)/synth-ckpt
	$(BUILD)/synth-ckpt --model sd15 --seed 20261126 --out $@
unit: $(SD15_SYNTH)

# The whole suite: unit tests, fuzz smoke runs, integration tests against the daemon.
test: unit ui
	@BUILD=$(BUILD) SHARED=$(SHARED) tests/run.sh

# ASan + UBSan build of everything, then the same suite on it.
asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# With no checkpoint of its own, comfyui-data gets the synthetic SD1.5 one (noise by
# design) so the default txt2img graph runs out of the box: the daemon writes it on its
# first start (--synthetic-default). The tokenizer is TOKENIZER_DIR when that exists,
# else the daemon's search, which downloads it into comfyui-data/models/tokenizers/sd1.
run: deps all ui
	$(BUILD)/comfyui-ipex --base-directory ./comfyui-data --synthetic-default \
	  $(if $(wildcard $(TOKENIZER_DIR)/vocab.json),--tokenizer-dir $(TOKENIZER_DIR))

# The web UI bundle (ui/dist), served at / by the daemon.
ui: ui/dist/index.html
ui/dist/index.html: ui/package.json ui/package-lock.json ui/index.html ui/vite.config.js $(wildcard ui/src/*)
	cd ui && npm ci --no-audit --no-fund --loglevel=error && npx vite build --logLevel warn

clean:
	rm -rf build build-asan

# Installs the programs, the CLIP tokenizer data when TOKENIZER_DIR has it
# (DATADIR/tokenizers/sd1, the daemon's compiled-in default; without it the daemon
# downloads the files on first use), the node ABI headers, the example workflows and their JSON Schema,
# the web UI bundle when it was built (`make ui`; to DATADIR/ui),
# and the systemd units (ExecStart pointed at PREFIX/bin), sysusers and tmpfiles snippets.
# DESTDIR stages the whole tree elsewhere (packaging).
TOKENIZER_DIR ?= $(SHARED)/tokenizer/sd1
UNITDIR  ?= $(PREFIX)/lib/systemd/system
HEADERS  := $(wildcard include/comfyui_ipex/*.h)
EXAMPLES := $(filter-out workflows/schema.json,$(wildcard workflows/*.json))
install: all
	$(if $(PROGRAMS),install -Dm755 -t $(DESTDIR)$(PREFIX)/bin $(PROGRAMS))
	$(if $(wildcard $(TOKENIZER_DIR)/vocab.json),install -Dm644 -t $(DESTDIR)$(DATADIR)/tokenizers/sd1 $(TOKENIZER_DIR)/*)
	$(if $(HEADERS),install -Dm644 -t $(DESTDIR)$(PREFIX)/include/comfyui_ipex $(HEADERS))
	install -Dm644 -t $(DESTDIR)$(DATADIR)/workflows $(EXAMPLES)
	install -Dm644 workflows/schema.json $(DESTDIR)$(DATADIR)/workflow-schema.json
	$(if $(wildcard ui/dist/index.html),mkdir -p $(DESTDIR)$(DATADIR)/ui && cp -R ui/dist/. $(DESTDIR)$(DATADIR)/ui/)
	install -d $(DESTDIR)$(UNITDIR)
	sed 's#/usr/local/bin/#$(PREFIX)/bin/#' systemd/comfyui-ipex.service >$(DESTDIR)$(UNITDIR)/comfyui-ipex.service
	install -m644 systemd/comfyui-ipex.socket $(DESTDIR)$(UNITDIR)/
	install -Dm644 systemd/comfyui-ipex.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/comfyui-ipex.conf
	install -Dm644 systemd/comfyui-ipex.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/comfyui-ipex.conf

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
