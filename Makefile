# Two commands do all set-up on a fresh machine (see README):
#   make demo   the built-in end-to-end demo (no dataset, no download)
#   make test   the test suite
# Both create or reuse .venv/, install the pinned packages, build the ROS interfaces into it and
# install had_ros (editable). Stamps under .venv/ make a second run skip finished work.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMPS := $(VENV)/.stamps
export HAD_VENV := $(abspath $(VENV))
# Set the ROS library path before Python starts (no re-exec by the wheels' bootstrapper).
RUN := source scripts/env.sh &&

INTERFACE_SRCS := $(wildcard interfaces/*/msg/*.msg interfaces/*/CMakeLists.txt interfaces/cmake/*.cmake) \
                  $(wildcard msg/*.msg) CMakeLists.txt package.xml

.PHONY: help setup demo test bench bench-events bench-models bench-node interfaces clean distclean

help:
	@echo "make demo    - set up .venv if needed, then run the built-in demo (output in demo_out/)"
	@echo "make test    - set up .venv if needed, then run the tests"
	@echo "make bench   - speed benchmarks (installs the comparison decoders from requirements-bench.txt)"
	@echo "make clean   - remove build/ and demo_out/ (keeps .venv); make distclean also removes .venv"

$(STAMPS)/venv:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), \
	  f"the ROS 2 wheels need Python 3.11, {sys.executable} is {sys.version.split()[0]}: run make PYTHON=python3.11"'
	$(PYTHON) -m venv $(VENV)
	mkdir -p $(STAMPS) && touch $@

$(STAMPS)/deps: requirements.txt $(STAMPS)/venv
	$(PIP) install -q -r requirements.txt
	touch $@

# ROS interfaces into the venv prefix: the test-only vision_msgs and event_camera_msgs, then
# had_ros's own messages (messages only; the code is the editable install below).
$(STAMPS)/interfaces: $(STAMPS)/deps $(INTERFACE_SRCS)
	mkdir -p build
	scripts/build_interfaces.sh $(VENV) build/event_camera_msgs interfaces/event_camera_msgs
	scripts/build_interfaces.sh $(VENV) build/vision_msgs interfaces/vision_msgs
	scripts/build_interfaces.sh $(VENV) build/had_ros_msgs . -DHAD_ROS_INTERFACES_ONLY=ON
	@# rosidl leaves an empty site-packages/had_ros/__init__.py that would hide the source package;
	@# without it that folder is a namespace portion that had_ros/__init__.py adds to its path.
	@# Its had_ros egg-info would make pip treat the messages as an old had_ros install and delete
	@# them when installing the editable package.
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  if [ -f $$site/had_ros/__init__.py ] && [ ! -s $$site/had_ros/__init__.py ]; then rm $$site/had_ros/__init__.py; fi; \
	  rm -rf $$site/had_ros-*.egg-info
	touch $@

$(STAMPS)/package: $(STAMPS)/deps setup.py setup.cfg
	$(PIP) install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	touch $@

setup: $(STAMPS)/deps $(STAMPS)/interfaces $(STAMPS)/package
interfaces: $(STAMPS)/interfaces

demo: setup
	$(RUN) $(VENV)/bin/had demo --out demo_out

test: setup
	$(RUN) $(PY) -m pytest -q

$(STAMPS)/bench-deps: requirements-bench.txt $(STAMPS)/deps
	$(PIP) install -q -r requirements-bench.txt
	touch $@

bench: bench-events bench-models
bench-events: setup $(STAMPS)/bench-deps
	$(RUN) $(VENV)/bin/had bench events --repeat 5 --json bench/results/events.json
bench-models: setup
	$(RUN) $(VENV)/bin/had bench models --out bench/results/models.md
bench-node: setup
	$(RUN) $(VENV)/bin/had bench node --out bench/results/node.md

clean:
	rm -rf build demo_out .pytest_cache
distclean: clean
	rm -rf $(VENV)
