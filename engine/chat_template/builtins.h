// Jinja2's built-in filters, tests, global functions and the Python methods
// templates call on strings, lists and dicts, with
// ImmutableSandboxedEnvironment's attribute rules. Internal to the module.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_BUILTINS_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_BUILTINS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat_template/renderer.h"
#include "engine/chat_template/value.h"

namespace loraplex::chat {

// Names the parser accepts (filters.cc, tests.cc, globals.cc).
bool IsSupportedFilter(absl::string_view name);
bool IsSupportedTest(absl::string_view name);
// Jinja's default globals this interpreter does not implement (lipsum,
// cycler, joiner): refused at parse time.
bool IsUnsupportedGlobal(absl::string_view name);

// `operand | name(args)` (filters.cc).
absl::StatusOr<Value> ApplyFilter(Renderer& renderer, const std::string& name,
                                  const Value& operand, CallArgs& args);
// `operand is name(args)` (tests.cc).
absl::StatusOr<bool> ApplyTest(Renderer& renderer, const std::string& name,
                               const Value& operand, CallArgs& args);

// Jinja's sandboxed getattr(obj, name) for `obj.name` (methods.cc): a
// dict's key unless a dict method has that name, a method of str, list or
// dict as a callable, Undefined when there is none, and an unsafe Undefined
// for names starting with '_' and for mutating methods (append, update,
// ...), which fails like the sandbox's SecurityError when used.
// INVALID_ARGUMENT when `obj` is Undefined (Jinja's UndefinedError).
absl::StatusOr<Value> GetAttribute(const Value& obj, const std::string& name,
                                   int line);
// `obj[key]`: item first, then attribute for a string key; Undefined when
// neither exists.
absl::StatusOr<Value> GetItem(const Value& obj, const Value& key, int line);

// The global functions: range, namespace, dict, raise_exception,
// strftime_now (globals.cc).
Renderer::Frame MakeGlobals();

// `{{ x }}`: str(x), failing for an unsafe Undefined.
absl::StatusOr<std::string> ToOutput(const Value& v, int line);
// Python iteration: list/tuple items, dict keys, string characters,
// nothing for Undefined. INVALID_ARGUMENT for other types.
absl::StatusOr<ValueList> Iterate(const Value& v, int line);
// The error Jinja raises when Undefined is used where a value is needed.
absl::Status UndefinedError(const Value& v, int line);

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_BUILTINS_H_
