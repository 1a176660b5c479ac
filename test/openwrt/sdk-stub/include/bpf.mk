# Stand-in for the SDK's bpf.mk: CompileBPF makes <name>.o next to <name>.c,
# stripped of DWARF like the real one, for this machine's byte order.
BPF_DEPENDS := @HAS_BPF_TOOLCHAIN +@NEED_BPF_TOOLCHAIN
BPF_MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)
define CompileBPF
	clang -O2 -g -Wall -target bpf $(if $(BPF_MULTIARCH),-I/usr/include/$(BPF_MULTIARCH)) $(2) -c $(1) -o $(patsubst %.c,%.o,$(1))
	llvm-strip --strip-debug $(patsubst %.c,%.o,$(1))
endef
