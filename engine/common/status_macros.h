// Status propagation helpers. Debian 12's Abseil (20220623) has no
// status_macros.h, so Loraplex defines the two it uses, once, here.
#ifndef LORAPLEX_ENGINE_COMMON_STATUS_MACROS_H_
#define LORAPLEX_ENGINE_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LORAPLEX_STATUS_CONCAT_INNER_(a, b) a##b
#define LORAPLEX_STATUS_CONCAT_(a, b) LORAPLEX_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define RETURN_IF_ERROR(expr)                                           \
  do {                                                                  \
    ::absl::Status loraplex_status_ = (expr);                           \
    if (!loraplex_status_.ok()) return loraplex_status_;                \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, MakeX());` evaluates the StatusOr expression,
// returns its status if not OK, and otherwise moves the value into `lhs`.
#define ASSIGN_OR_RETURN(lhs, rexpr)                                        \
  LORAPLEX_ASSIGN_OR_RETURN_IMPL_(                                          \
      LORAPLEX_STATUS_CONCAT_(loraplex_statusor_, __LINE__), lhs, rexpr)

#define LORAPLEX_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()

#endif  // LORAPLEX_ENGINE_COMMON_STATUS_MACROS_H_
