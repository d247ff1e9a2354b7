// Walks a parsed template with Python/Jinja2 semantics and writes the text.
// One Renderer per Render() call; internal to the module.
#ifndef LORAPLEX_ENGINE_CHAT_TEMPLATE_RENDERER_H_
#define LORAPLEX_ENGINE_CHAT_TEMPLATE_RENDERER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/chat_template/ast.h"
#include "engine/chat_template/render_limits.h"
#include "engine/chat_template/value.h"

namespace loraplex::chat {

// Arguments of a call, filter, test or method, already evaluated.
struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;
  int line = 0;
};

// Binds `args` to parameters named `names` (Python's rules: positionals
// first, then keywords by name). Parameters not given come back Undefined.
// INVALID_ARGUMENT for too many positionals, an unknown or repeated
// keyword, or fewer than `required` given.
absl::StatusOr<ValueList> BindArgs(
    const CallArgs& args, std::initializer_list<absl::string_view> names,
    size_t required, absl::string_view function);

// An error of the template at run time: INVALID_ARGUMENT "line N: ...".
absl::Status RenderError(int line, absl::string_view message);

// Note [raise_exception]: the template's own raise_exception(msg) travels
// through the renderer as ABORTED with exactly `msg` (every other error is
// INVALID_ARGUMENT with a line); ChatTemplate::Render turns it into
// INVALID_ARGUMENT with the message unchanged, as transformers surfaces
// TemplateError(msg).
absl::Status TemplateRaisedError(absl::string_view message);

class Renderer {
 public:
  using Frame = std::unordered_map<std::string, Value>;

  // `context` holds the variables the template is rendered with; the
  // globals (range, namespace, ...) sit below it.
  Renderer(const RenderLimits& limits, absl::Time now, Frame context);
  // Releases the values of every mutable object this render made (see
  // Object::ReleaseValues): nothing a render made outlives it.
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  absl::StatusOr<std::string> Render(const StmtList& body);

  // A mutable object made during this render (namespace()).
  void AdoptMutable(std::shared_ptr<Object> object) {
    mutable_objects_.push_back(std::move(object));
  }

  // For builtins and objects.
  absl::StatusOr<Value> Eval(const Expr& expr);
  absl::StatusOr<Value> CallValue(const Value& callee, CallArgs& args);
  // Runs `body` with `frame` as the innermost scope (macros), returning
  // what it printed.
  absl::StatusOr<std::string> RenderCaptured(const StmtList& body, Frame frame,
                                             int line);
  // Accounts `bytes` of newly built string; RESOURCE_EXHAUSTED-like
  // INVALID_ARGUMENT once a string or the total passes the limits.
  absl::Status ChargeString(size_t bytes, int line);
  absl::Status ChargeItems(size_t items, int line);
  absl::Status ChargeIteration(int line);
  const RenderLimits& limits() const { return limits_; }
  absl::Time now() const { return now_; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  absl::StatusOr<Flow> Exec(const StmtList& body);
  absl::StatusOr<Flow> ExecStmt(const Stmt& stmt);
  absl::StatusOr<Flow> ExecFor(const Stmt& stmt);
  absl::Status ExecSet(const Stmt& stmt);
  absl::Status Assign(const Target& target, const Value& value, int line);
  absl::Status Emit(absl::string_view text, int line);

  absl::StatusOr<Value> EvalName(const Expr& expr);
  absl::StatusOr<Value> EvalCall(const Expr& expr);
  absl::StatusOr<Value> EvalFilter(const Expr& expr, const Value* operand);
  absl::StatusOr<Value> EvalCompare(const Expr& expr);
  absl::StatusOr<CallArgs> EvalArgs(const Expr& expr, size_t first);
  absl::StatusOr<Value> EvalSlice(const Expr& expr);
  absl::StatusOr<Value> EvalDict(const Expr& expr);

  Value Lookup(const std::string& name) const;
  // Runs `body` in the current scope, returning what it printed.
  absl::StatusOr<std::string> Capture(const StmtList& body);

  const RenderLimits& limits_;
  const absl::Time now_;
  std::vector<Frame> frames_;  // [0] globals, [1] context, then scopes.
  // Lookups see frames_[visible_from_..] and then [1] and [0]: a macro's
  // body does not see the scopes of its caller.
  size_t visible_from_ = 2;
  std::string* out_ = nullptr;  // Where Emit writes (swapped for captures).
  int64_t iterations_ = 0;
  uint64_t string_bytes_ = 0;
  int call_depth_ = 0;
  std::vector<std::shared_ptr<Object>> mutable_objects_;  // AdoptMutable.
};

}  // namespace loraplex::chat

#endif  // LORAPLEX_ENGINE_CHAT_TEMPLATE_RENDERER_H_
