# Stand-in for the OpenWrt SDK's rules.mk: just the directories a package uses.
INCLUDE_DIR := $(TOPDIR)/include
BUILD_DIR ?= $(TOPDIR)/build
STAGING_DIR ?= $(TOPDIR)/staging
