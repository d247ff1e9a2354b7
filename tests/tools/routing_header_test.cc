// The CLI sets the adapter-affinity routing header (x-loraplex-adapter) that
// the Envoy front proxy hashes on (deploy/k8s, deploy/README.md). A stand-in
// GenerationService/AdapterService on loopback records what arrives.
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gtest/gtest.h"
#include "proto/loraplex/v1/adapters.grpc.pb.h"
#include "proto/loraplex/v1/generation.grpc.pb.h"
#include "tests/tools/cli_test_util.h"
#include "tools/client/connection.h"

namespace loraplex::tools_testing {
namespace {

// Remembers the routing header of the last call of each RPC.
class HeaderLog {
 public:
  void Record(const std::string& rpc, const grpc::ServerContextBase& context) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto& metadata = context.client_metadata();
    auto it = metadata.find(tools::kAdapterRoutingHeader);
    seen_[rpc] = it == metadata.end()
                     ? "<absent>"
                     : std::string(it->second.data(), it->second.size());
  }
  std::string Get(const std::string& rpc) {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.count(rpc) ? seen_[rpc] : "<no call>";
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> seen_;
};

class RecordingGeneration final : public v1::GenerationService::Service {
 public:
  explicit RecordingGeneration(HeaderLog& log) : log_(log) {}
  grpc::Status Generate(grpc::ServerContext* context,
                        const v1::GenerateRequest*,
                        v1::GenerateResponse* response) override {
    log_.Record("Generate", *context);
    response->set_text("ok");
    return grpc::Status::OK;
  }
  grpc::Status GenerateStream(
      grpc::ServerContext* context, const v1::GenerateRequest*,
      grpc::ServerWriter<v1::GenerateStreamResponse>*) override {
    log_.Record("GenerateStream", *context);
    return grpc::Status::OK;
  }

 private:
  HeaderLog& log_;
};

class RecordingAdapters final : public v1::AdapterService::Service {
 public:
  explicit RecordingAdapters(HeaderLog& log) : log_(log) {}
  grpc::Status GetAdapter(grpc::ServerContext* context,
                          const v1::GetAdapterRequest*, v1::Adapter*) override {
    log_.Record("GetAdapter", *context);
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "stand-in");
  }
  grpc::Status ListAdapters(grpc::ServerContext* context,
                            const v1::ListAdaptersRequest*,
                            v1::ListAdaptersResponse*) override {
    log_.Record("ListAdapters", *context);
    return grpc::Status::OK;
  }

 private:
  HeaderLog& log_;
};

TEST(RoutingHeaderTest, CallsAboutAnAdapterCarryItsName) {
  HeaderLog log;
  RecordingGeneration generation(log);
  RecordingAdapters adapters(log);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&generation);
  builder.RegisterService(&adapters);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const EnvChanges env = {
      {"LORAPLEX_SERVER", "127.0.0.1:" + std::to_string(port)}};

  EXPECT_EQ(Cli({"generate", "--adapter", "demo/code", "--no-stream",
                 "--prompt-ids", "1,2"},
                env)
                .exit_code,
            0);
  EXPECT_EQ(log.Get("Generate"), "demo/code");
  Cli({"generate", "--adapter", "mine", "--prompt-ids", "1,2"}, env);
  EXPECT_EQ(log.Get("GenerateStream"), "mine");
  Cli({"adapters", "get", "demo/code"}, env);
  EXPECT_EQ(log.Get("GetAdapter"), "demo/code");
  // Not about one adapter: no header, so Envoy spreads these calls.
  Cli({"adapters", "list"}, env);
  EXPECT_EQ(log.Get("ListAdapters"), "<absent>");
  Cli({"generate", "--no-stream", "--prompt-ids", "1,2"}, env);
  EXPECT_EQ(log.Get("Generate"), "<absent>");
  server->Shutdown();
}

}  // namespace
}  // namespace loraplex::tools_testing
