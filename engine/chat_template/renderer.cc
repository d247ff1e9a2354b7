#include "engine/chat_template/renderer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/chat_template/builtins.h"
#include "engine/chat_template/loop_object.h"
#include "engine/chat_template/operators.h"
#include "engine/chat_template/value_format.h"
#include "engine/common/status_macros.h"

namespace loraplex::chat {

absl::Status RenderError(int line, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", message));
}

absl::Status TemplateRaisedError(absl::string_view message) {
  return absl::AbortedError(message);
}

absl::StatusOr<ValueList> BindArgs(
    const CallArgs& args, std::initializer_list<absl::string_view> names,
    size_t required, absl::string_view function) {
  ValueList bound(names.size());
  std::vector<bool> given(names.size(), false);
  if (args.positional.size() > names.size()) {
    return RenderError(
        args.line,
        absl::StrCat(function, "() takes at most ", names.size(),
                     " arguments (", args.positional.size(), " given)"));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    bound[i] = args.positional[i];
    given[i] = true;
  }
  for (const auto& [key, value] : args.keyword) {
    auto it = std::find(names.begin(), names.end(), key);
    if (it == names.end()) {
      return RenderError(args.line, absl::StrCat(function,
                                                 "() got an unexpected keyword "
                                                 "argument '",
                                                 key, "'"));
    }
    const auto index = static_cast<size_t>(it - names.begin());
    if (given[index]) {
      return RenderError(args.line, absl::StrCat(function,
                                                 "() got multiple values for "
                                                 "argument '",
                                                 key, "'"));
    }
    bound[index] = value;
    given[index] = true;
  }
  for (size_t i = 0; i < required; ++i) {
    if (!given[i]) {
      return RenderError(
          args.line, absl::StrCat(function, "() missing required argument '",
                                  *(names.begin() + i), "'"));
    }
  }
  return bound;
}

namespace {

// A {% macro %}: calling it renders its body with the arguments bound.
class MacroObject : public Object {
 public:
  explicit MacroObject(const Stmt* stmt) : stmt_(stmt) {}
  std::string TypeName() const override { return "Macro"; }
  bool callable() const override { return true; }
  std::string Repr() const override { return "<Macro '" + stmt_->text + "'>"; }
  absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) override {
    if (args.positional.size() > stmt_->params.size()) {
      return RenderError(
          args.line,
          absl::StrCat("macro '", stmt_->text, "' takes not more than ",
                       stmt_->params.size(), " argument(s)"));
    }
    Renderer::Frame frame;
    std::vector<bool> given(stmt_->params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
      frame[stmt_->params[i].first] = args.positional[i];
      given[i] = true;
    }
    for (auto& [key, value] : args.keyword) {
      size_t i = 0;
      while (i < stmt_->params.size() && stmt_->params[i].first != key) ++i;
      if (i == stmt_->params.size() || given[i]) {
        return RenderError(args.line,
                           absl::StrCat("macro '", stmt_->text,
                                        "' got an unexpected or repeated "
                                        "argument '",
                                        key, "'"));
      }
      frame[key] = value;
      given[i] = true;
    }
    for (size_t i = 0; i < stmt_->params.size(); ++i) {
      if (given[i]) continue;
      const auto& [name, default_expr] = stmt_->params[i];
      if (default_expr) {
        ASSIGN_OR_RETURN(frame[name], renderer.Eval(*default_expr));
      } else {
        frame[name] = Value::Undefined(
            absl::StrCat("parameter '", name, "' was not provided"));
      }
    }
    ASSIGN_OR_RETURN(
        std::string text,
        renderer.RenderCaptured(stmt_->body, std::move(frame), args.line));
    return Value::String(std::move(text));
  }

 private:
  const Stmt* stmt_;
};

}  // namespace

Renderer::Renderer(const RenderLimits& limits, absl::Time now, Frame context)
    : limits_(limits), now_(now) {
  frames_.push_back(MakeGlobals());
  frames_.push_back(std::move(context));
}

Renderer::~Renderer() {
  for (const std::shared_ptr<Object>& object : mutable_objects_) {
    object->ReleaseValues();
  }
}

absl::StatusOr<std::string> Renderer::Render(const StmtList& body) {
  std::string result;
  out_ = &result;
  ASSIGN_OR_RETURN(Flow flow, Exec(body));
  (void)flow;
  out_ = nullptr;
  return result;
}

absl::Status Renderer::ChargeString(size_t bytes, int line) {
  if (bytes > limits_.max_output_bytes) {
    return RenderError(line, absl::StrCat("string longer than ",
                                          limits_.max_output_bytes, " bytes"));
  }
  string_bytes_ += bytes;
  if (string_bytes_ > limits_.max_total_string_bytes) {
    return RenderError(line, absl::StrCat("the template built more than ",
                                          limits_.max_total_string_bytes,
                                          " bytes of text in one render"));
  }
  return absl::OkStatus();
}

absl::Status Renderer::ChargeItems(size_t items, int line) {
  if (items > limits_.max_container_items) {
    return RenderError(line,
                       absl::StrCat("a list or dict of more than ",
                                    limits_.max_container_items, " items"));
  }
  iterations_ += static_cast<int64_t>(items);
  if (iterations_ > limits_.max_loop_iterations) {
    return RenderError(
        line, absl::StrCat("more than ", limits_.max_loop_iterations,
                           " loop iterations and items in one render"));
  }
  return absl::OkStatus();
}

absl::Status Renderer::ChargeIteration(int line) {
  return ChargeItems(1, line);
}

absl::Status Renderer::Emit(absl::string_view text, int line) {
  if (out_->size() + text.size() > limits_.max_output_bytes) {
    return RenderError(line, absl::StrCat("output longer than ",
                                          limits_.max_output_bytes, " bytes"));
  }
  RETURN_IF_ERROR(ChargeString(text.size(), line));
  out_->append(text.data(), text.size());
  return absl::OkStatus();
}

Value Renderer::Lookup(const std::string& name) const {
  for (size_t i = frames_.size(); i-- > 0;) {
    if (i < visible_from_ && i > 1) continue;
    auto it = frames_[i].find(name);
    if (it != frames_[i].end()) return it->second;
  }
  return Value::Undefined(absl::StrCat("'", name, "' is undefined"));
}

absl::StatusOr<std::string> Renderer::Capture(const StmtList& body) {
  std::string captured;
  std::string* saved = out_;
  out_ = &captured;
  absl::StatusOr<Flow> flow = Exec(body);
  out_ = saved;
  if (!flow.ok()) return flow.status();
  return captured;
}

absl::StatusOr<std::string> Renderer::RenderCaptured(const StmtList& body,
                                                     Frame frame, int line) {
  if (call_depth_ >= limits_.max_call_depth) {
    return RenderError(line, absl::StrCat("macro calls nested deeper than ",
                                          limits_.max_call_depth));
  }
  ++call_depth_;
  const size_t saved_visible = visible_from_;
  const size_t saved_frames = frames_.size();
  frames_.push_back(std::move(frame));
  visible_from_ = frames_.size() - 1;
  absl::StatusOr<std::string> text = Capture(body);
  frames_.resize(saved_frames);
  visible_from_ = saved_visible;
  --call_depth_;
  return text;
}

absl::StatusOr<Renderer::Flow> Renderer::Exec(const StmtList& body) {
  for (const auto& stmt : body) {
    ASSIGN_OR_RETURN(Flow flow, ExecStmt(*stmt));
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

absl::StatusOr<Renderer::Flow> Renderer::ExecStmt(const Stmt& stmt) {
  switch (stmt.kind) {
    case Stmt::Kind::kText:
      RETURN_IF_ERROR(Emit(stmt.text, stmt.line));
      return Flow::kNormal;
    case Stmt::Kind::kOutput: {
      ASSIGN_OR_RETURN(Value v, Eval(*stmt.expr));
      ASSIGN_OR_RETURN(std::string text, ToOutput(v, stmt.line));
      RETURN_IF_ERROR(Emit(text, stmt.line));
      return Flow::kNormal;
    }
    case Stmt::Kind::kIf:
      for (const auto& [cond, body] : stmt.branches) {
        ASSIGN_OR_RETURN(Value v, Eval(*cond));
        if (v.Truthy()) return Exec(body);
      }
      return Exec(stmt.else_body);
    case Stmt::Kind::kFor:
      return ExecFor(stmt);
    case Stmt::Kind::kSet:
      RETURN_IF_ERROR(ExecSet(stmt));
      return Flow::kNormal;
    case Stmt::Kind::kSetBlock:
    case Stmt::Kind::kFilterBlock: {
      ASSIGN_OR_RETURN(std::string text, Capture(stmt.body));
      Value v = Value::String(std::move(text));
      if (stmt.expr) {
        ASSIGN_OR_RETURN(v, EvalFilter(*stmt.expr, &v));
      }
      if (stmt.kind == Stmt::Kind::kSetBlock) {
        RETURN_IF_ERROR(Assign(stmt.target, v, stmt.line));
      } else {
        ASSIGN_OR_RETURN(std::string out, ToOutput(v, stmt.line));
        RETURN_IF_ERROR(Emit(out, stmt.line));
      }
      return Flow::kNormal;
    }
    case Stmt::Kind::kMacro:
      frames_.back()[stmt.text] =
          Value::MakeObject(std::make_shared<MacroObject>(&stmt));
      return Flow::kNormal;
    case Stmt::Kind::kWith: {
      Frame frame;
      for (const auto& [name, expr] : stmt.params) {
        ASSIGN_OR_RETURN(frame[name], Eval(*expr));
      }
      frames_.push_back(std::move(frame));
      absl::StatusOr<Flow> flow = Exec(stmt.body);
      frames_.pop_back();
      return flow;
    }
    case Stmt::Kind::kBreak:
      return Flow::kBreak;
    case Stmt::Kind::kContinue:
      return Flow::kContinue;
    case Stmt::Kind::kGeneration:
      return Exec(stmt.body);
  }
  return Flow::kNormal;
}

absl::StatusOr<Renderer::Flow> Renderer::ExecFor(const Stmt& stmt) {
  ASSIGN_OR_RETURN(Value iterable, Eval(*stmt.expr));
  ASSIGN_OR_RETURN(ValueList items, Iterate(iterable, stmt.line));
  if (stmt.filter) {
    ValueList kept;
    for (Value& item : items) {
      RETURN_IF_ERROR(ChargeIteration(stmt.line));
      frames_.emplace_back();
      absl::Status assigned = Assign(stmt.target, item, stmt.line);
      absl::StatusOr<Value> keep =
          assigned.ok() ? Eval(*stmt.filter) : absl::StatusOr<Value>(assigned);
      frames_.pop_back();
      if (!keep.ok()) return keep.status();
      if (keep->Truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return Exec(stmt.else_body);
  auto loop = std::make_shared<LoopObject>(
      std::make_shared<const ValueList>(std::move(items)));
  const Value loop_value = Value::MakeObject(loop);
  for (size_t i = 0; i < loop->items().size(); ++i) {
    RETURN_IF_ERROR(ChargeIteration(stmt.line));
    loop->set_index(i);
    frames_.emplace_back();
    frames_.back()["loop"] = loop_value;
    absl::Status assigned = Assign(stmt.target, loop->items()[i], stmt.line);
    absl::StatusOr<Flow> flow =
        assigned.ok() ? Exec(stmt.body) : absl::StatusOr<Flow>(assigned);
    frames_.pop_back();
    if (!flow.ok()) return flow.status();
    if (*flow == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

absl::Status Renderer::ExecSet(const Stmt& stmt) {
  ASSIGN_OR_RETURN(Value v, Eval(*stmt.expr));
  return Assign(stmt.target, v, stmt.line);
}

absl::Status Renderer::Assign(const Target& target, const Value& value,
                              int line) {
  switch (target.kind) {
    case Target::Kind::kName:
      frames_.back()[target.names[0]] = value;
      return absl::OkStatus();
    case Target::Kind::kAttribute: {
      Value ns = Lookup(target.names[0]);
      if (!ns.is_object() || !ns.object()->SetAttr(target.attribute, value)) {
        return RenderError(line,
                           "cannot assign attribute on non-namespace object");
      }
      return absl::OkStatus();
    }
    case Target::Kind::kTuple: {
      ASSIGN_OR_RETURN(ValueList items, Iterate(value, line));
      const size_t want = target.names.size();
      if (items.size() < want) {
        return RenderError(
            line, absl::StrCat("not enough values to unpack (expected ", want,
                               ", got ", items.size(), ")"));
      }
      if (items.size() > want) {
        return RenderError(
            line,
            absl::StrCat("too many values to unpack (expected ", want, ")"));
      }
      for (size_t i = 0; i < want; ++i) {
        frames_.back()[target.names[i]] = items[i];
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace loraplex::chat
