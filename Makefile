# Building and installing from source, the way the distribution packages do it:
#   make && sudo make install            (PREFIX=/usr by default)
#   make install DESTDIR=/tmp/root       (a staged install, for packaging)
# The Swift toolchain must be on PATH (here: /opt/swift/usr/bin).

PREFIX      ?= /usr
SBINDIR     ?= $(PREFIX)/sbin
# portreserve looks for portreserve-cli beside itself, in ../libexec/portreserve, and in
# /usr/libexec/portreserve: keep SBINDIR and LIBEXECDIR under the same PREFIX.
LIBEXECDIR  ?= $(PREFIX)/libexec/portreserve
MANDIR      ?= $(PREFIX)/share/man
SYSCONFDIR  ?= /etc
VENDORDIR   ?= $(PREFIX)/lib/portreserve
CATALOGDIR  ?= $(PREFIX)/lib/systemd/catalog
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
UNITDIR     ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
GENERATORDIR ?= $(shell pkg-config --variable=systemdsystemgeneratordir systemd 2>/dev/null || echo /lib/systemd/system-generators)
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SWIFT       ?= swift
RELEASE     := .build/release
# By default portrelease is linked fully statically, in a build tree of its own (the flag would
# otherwise rebuild the daemon's tree): it starts in 0.5 ms instead of 1.2 ms, on every start of
# every dependent service. Distributions whose policy forbids static glibc (Debian, Fedora: glibc
# security updates must reach every binary) build with STATIC_PORTRELEASE=no. The daemon links
# libsystemd, shipped only as a shared library, so its C libraries stay shared either way.
STATIC_PORTRELEASE ?= yes
ifeq ($(STATIC_PORTRELEASE),yes)
STATIC      := .build-static/release
STATICFLAGS := --scratch-path .build-static -Xswiftc -static-executable
else
STATIC      := $(RELEASE)
STATICFLAGS :=
endif
# The C++ runtime under the Swift runtime (libstdc++, and libgcc's unwinder) is linked statically
# too, by default: only the archive members the programs call are taken, and the dynamic loader
# no longer loads and relocates all of libstdc++.so at every start. The daemon starts about 1 ms
# sooner (6.9 to 5.9 ms at one entry) with 76 KB less anonymous memory (benchmarks/README.md).
# The Swift driver asks for -lstdc++ by itself, so a directory holding only libstdc++.a, searched
# before the compiler's own, makes that request take the archive; the build checks the result
# (scripts/check-linkage). Distributions whose policy forbids linking their libraries statically
# build with STATIC_LIBSTDCXX=no.
STATIC_LIBSTDCXX ?= yes
CXXARCHIVEDIR := .build/libstdc++-static
ifeq ($(STATIC_LIBSTDCXX),yes)
RUNTIMEFLAGS  := -Xlinker -L$(CURDIR)/$(CXXARCHIVEDIR) -Xswiftc -Xclang-linker -Xswiftc -static-libgcc
else
RUNTIMEFLAGS  :=
endif
# How every release binary is built. The Swift runtime is linked statically: the binaries need only
# what Debian ships (libc, libsystemd0, and libstdc++ with STATIC_LIBSTDCXX=no), and no RUNPATH
# points into the build tree.
SWIFTBUILD  := $(SWIFT) build -c release --static-swift-stdlib --disable-local-rpath $(RUNTIMEFLAGS)
COMPLETIONS := .build/completions

.PHONY: all build completions install uninstall test clean swift-floor cxx-archive

all: build completions

build: cxx-archive
	$(SWIFTBUILD) --product portreserve
	$(SWIFTBUILD) --product portreserve-cli
	$(SWIFTBUILD) --product portreserve-generator
	$(SWIFTBUILD) --product portrelease $(STATICFLAGS)
	scripts/check-linkage $(STATIC_LIBSTDCXX) $(RELEASE)/portreserve $(RELEASE)/portreserve-cli \
		$(RELEASE)/portreserve-generator $(STATIC)/portrelease

# The directory that holds only libstdc++.a, from the C compiler's own installation.
cxx-archive:
ifeq ($(STATIC_LIBSTDCXX),yes)
	@archive=$$($(CC) -print-file-name=libstdc++.a); \
	case $$archive in /*) ;; *) \
		echo "libstdc++.a not found (Debian: libstdc++-12-dev; Fedora: libstdc++-static)," \
			"or build with STATIC_LIBSTDCXX=no" >&2; exit 1 ;; \
	esac; \
	mkdir -p $(CXXARCHIVEDIR) && ln -sfn "$$archive" $(CXXARCHIVEDIR)/libstdc++.a
endif

# The floor benchmarks/run measures the daemon against, built the same way.
swift-floor: cxx-archive
	$(SWIFTBUILD) --package-path benchmarks/swift-floor --scratch-path .build/swift-floor

# Generated from the command-line definitions of each program.
completions: build
	mkdir -p $(COMPLETIONS)
	for shell in bash zsh fish; do \
		$(RELEASE)/portreserve --generate-completion-script $$shell | sed '1{/^#!/d}' > $(COMPLETIONS)/portreserve.$$shell && \
		$(STATIC)/portrelease --generate-completion-script $$shell > $(COMPLETIONS)/portrelease.$$shell || exit 1; \
	done

install: all
	install -D -m 0755 $(RELEASE)/portreserve $(DESTDIR)$(SBINDIR)/portreserve
	install -D -m 0755 $(RELEASE)/portreserve-cli $(DESTDIR)$(LIBEXECDIR)/portreserve-cli
	install -D -m 0755 $(STATIC)/portrelease $(DESTDIR)$(SBINDIR)/portrelease
	install -D -m 0755 $(RELEASE)/portreserve-generator $(DESTDIR)$(GENERATORDIR)/portreserve-generator
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/portreserve $(DESTDIR)$(VENDORDIR) $(DESTDIR)$(UNITDIR)
	for unit in units/*.socket units/*.service; do \
		sed 's|/usr/sbin/|$(SBINDIR)/|g' $$unit > $(DESTDIR)$(UNITDIR)/$$(basename $$unit) && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$unit) || exit 1; \
	done
	install -D -m 0644 catalog/portreserve.catalog $(DESTDIR)$(CATALOGDIR)/portreserve.catalog
	install -D -m 0644 units/portreserve.sysusers $(DESTDIR)$(SYSUSERSDIR)/portreserve.conf
	install -D -m 0644 man/portreserve.8 $(DESTDIR)$(MANDIR)/man8/portreserve.8
	install -D -m 0644 man/portrelease.8 $(DESTDIR)$(MANDIR)/man8/portrelease.8
	install -D -m 0644 man/portreserve.d.5 $(DESTDIR)$(MANDIR)/man5/portreserve.d.5
	install -D -m 0644 $(COMPLETIONS)/portreserve.bash $(DESTDIR)$(BASHCOMPDIR)/portreserve
	install -D -m 0644 $(COMPLETIONS)/portrelease.bash $(DESTDIR)$(BASHCOMPDIR)/portrelease
	install -D -m 0644 $(COMPLETIONS)/portreserve.zsh $(DESTDIR)$(ZSHCOMPDIR)/_portreserve
	install -D -m 0644 $(COMPLETIONS)/portrelease.zsh $(DESTDIR)$(ZSHCOMPDIR)/_portrelease
	install -D -m 0644 $(COMPLETIONS)/portreserve.fish $(DESTDIR)$(FISHCOMPDIR)/portreserve.fish
	install -D -m 0644 $(COMPLETIONS)/portrelease.fish $(DESTDIR)$(FISHCOMPDIR)/portrelease.fish

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/portreserve $(DESTDIR)$(SBINDIR)/portrelease $(DESTDIR)$(LIBEXECDIR)/portreserve-cli
	-rmdir $(DESTDIR)$(LIBEXECDIR)
	rm -f $(DESTDIR)$(GENERATORDIR)/portreserve-generator
	rm -f $(DESTDIR)$(UNITDIR)/portreserve.socket $(DESTDIR)$(UNITDIR)/portreserve.service $(DESTDIR)$(UNITDIR)/portrelease@.service
	rm -f $(DESTDIR)$(CATALOGDIR)/portreserve.catalog $(DESTDIR)$(SYSUSERSDIR)/portreserve.conf
	rm -f $(DESTDIR)$(MANDIR)/man8/portreserve.8 $(DESTDIR)$(MANDIR)/man8/portrelease.8 $(DESTDIR)$(MANDIR)/man5/portreserve.d.5
	rm -f $(DESTDIR)$(BASHCOMPDIR)/portreserve $(DESTDIR)$(BASHCOMPDIR)/portrelease
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_portreserve $(DESTDIR)$(ZSHCOMPDIR)/_portrelease
	rm -f $(DESTDIR)$(FISHCOMPDIR)/portreserve.fish $(DESTDIR)$(FISHCOMPDIR)/portrelease.fish

test:
	scripts/test

clean:
	rm -rf .build/release .build/completions .build-static .build/swift-floor $(CXXARCHIVEDIR)
