// libevent's public headers, imported into Swift as the CLibEvent module.
#ifndef MAGENT_CLIBEVENT_SHIM_H
#define MAGENT_CLIBEVENT_SHIM_H
// The C library headers libevent includes belong to Swift's Glibc module;
// importing it first keeps them from being compiled into this module twice.
#if __has_feature(modules)
#pragma clang module import SwiftGlibc
#endif
#include <event2/event.h>
#include <event2/util.h>
// evhttp: the optional Prometheus /metrics listener (MetricsServer).
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#endif
