#include "service/server/in_flight_calls.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace loraplex::service {

// Lives exactly as long as its call (gRPC owns and deletes it).
class InFlightCalls::Counter final : public grpc::experimental::Interceptor {
 public:
  explicit Counter(InFlightCalls* calls) : calls_(calls) { calls_->Add(1); }
  ~Counter() override { calls_->Add(-1); }
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  InFlightCalls* const calls_;
};

class InFlightCalls::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(InFlightCalls* calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (!calls_->Counts(info->method())) return nullptr;
    return new Counter(calls_);
  }

 private:
  InFlightCalls* const calls_;
};

InFlightCalls::InFlightCalls(Selection selection,
                             const std::string& service_full_name)
    : selection_(selection),
      method_prefix_(absl::StrCat("/", service_full_name, "/")) {}

bool InFlightCalls::Counts(const char* method) const {
  const bool of_service =
      method != nullptr && absl::StartsWith(method, method_prefix_);
  return selection_ == Selection::kService ? of_service : !of_service;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
InFlightCalls::NewInterceptorFactory() {
  return std::make_unique<Factory>(this);
}

void InFlightCalls::Add(int64_t delta) {
  absl::MutexLock lock(&mu_);
  count_ += delta;
}

int64_t InFlightCalls::count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

bool InFlightCalls::AwaitNone(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      absl::Condition(this, &InFlightCalls::NoneLocked), deadline);
}

}  // namespace loraplex::service
