# Stand-in for the SDK's package.mk: the install macros with the SDK's modes,
# and a BuildPackage that runs Build/Prepare, Build/Compile and
# Package/<name>/install into $(PKG_INSTALL_ROOT), then prints the package's
# metadata for the test to read.
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
INSTALL_DIR := install -d -m0755
INSTALL_BIN := install -m0755
INSTALL_DATA := install -m0644
INSTALL_CONF := install -m0600
CP := cp -fpR

define BuildPackage
$$(eval $$(Package/$(1)))
all: package-install
package-prepare:
	$$(Build/Prepare)
package-compile: package-prepare
	$$(Build/Compile)
package-install: package-compile
	$$(call Package/$(1)/install,$$(PKG_INSTALL_ROOT))
	@echo "PKG_NAME=$$(PKG_NAME)"
	@echo "PKG_VERSION=$$(PKG_VERSION)"
	@echo "PKG_RELEASE=$$(PKG_RELEASE)"
	@echo "PKG_LICENSE=$$(PKG_LICENSE)"
	@echo "PKG_BUILD_DEPENDS=$$(PKG_BUILD_DEPENDS)"
	@echo "SECTION=$$(SECTION)"
	@echo "DEPENDS=$$(strip $$(DEPENDS))"
	@echo "CONFFILES=$$(strip $$(Package/$(1)/conffiles))"
endef
