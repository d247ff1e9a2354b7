#include "engine/tokenizer/sentencepiece_model.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <utility>

#include "engine/tokenizer/sentencepiece_backend.h"

namespace loraplex::engine {
namespace {

#ifdef LORAPLEX_SENTENCEPIECE_LINKED

LoadSentencePieceBackendFn FindLoader(std::string*) {
  return &loraplex_load_sentencepiece_backend;
}

#else

constexpr char kModuleName[] = "libloraplex_sentencepiece.so";

std::string ExecutableDir() {
  char buffer[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return "";
  std::string path(buffer, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// Where the module may be, most specific first: $LORAPLEX_SENTENCEPIECE_MODULE,
// an installed layout (<prefix>/bin/x -> <prefix>/lib/loraplex/), next to the
// executable, and the build tree it was built in.
std::vector<std::string> ModuleCandidates() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("LORAPLEX_SENTENCEPIECE_MODULE")) {
    if (*env != '\0') candidates.push_back(env);
  }
  const std::string exe_dir = ExecutableDir();
  if (!exe_dir.empty()) {
    candidates.push_back(exe_dir + "/../lib/loraplex/" + kModuleName);
    candidates.push_back(exe_dir + "/" + kModuleName);
  }
  candidates.push_back(LORAPLEX_SENTENCEPIECE_BUILD_PATH);
  return candidates;
}

LoadSentencePieceBackendFn FindLoader(std::string* error) {
  static std::once_flag once;
  static LoadSentencePieceBackendFn loader = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& path : ModuleCandidates()) {
      if (::access(path.c_str(), R_OK) != 0) continue;
      // Never closed: backends created from it live as long as the process.
      void* module =
          ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (module == nullptr) {
        tried += std::string("; ") + ::dlerror();
        continue;
      }
      loader = reinterpret_cast<LoadSentencePieceBackendFn>(
          ::dlsym(module, kLoadSentencePieceBackendSymbol));
      if (loader != nullptr) return;
      tried += "; " + path + " lacks " + kLoadSentencePieceBackendSymbol;
    }
    failure =
        std::string("SentencePiece support is not installed: no usable ") +
        kModuleName + " (set LORAPLEX_SENTENCEPIECE_MODULE)" + tried;
  });
  if (loader == nullptr) *error = failure;
  return loader;
}

#endif

}  // namespace

SentencePieceModel::SentencePieceModel(
    std::unique_ptr<SentencePieceBackend> backend)
    : backend_(std::move(backend)) {}

SentencePieceModel::~SentencePieceModel() = default;

std::unique_ptr<SentencePieceModel> SentencePieceModel::Load(
    const std::string& path, std::string* error) {
  const LoadSentencePieceBackendFn load = FindLoader(error);
  if (load == nullptr) return nullptr;
  std::unique_ptr<SentencePieceBackend> backend(load(path.c_str(), error));
  if (backend == nullptr) return nullptr;
  return std::unique_ptr<SentencePieceModel>(
      new SentencePieceModel(std::move(backend)));
}

bool SentencePieceModel::Encode(std::string_view text, std::vector<int>* ids,
                                std::string* error) const {
  return backend_->Encode(text, ids, error);
}

std::string SentencePieceModel::Decode(const std::vector<int>& ids) const {
  return backend_->Decode(ids);
}

int SentencePieceModel::piece_count() const { return backend_->piece_count(); }

bool SentencePieceModel::IsControl(int id) const {
  return backend_->IsControl(id);
}

const std::string& SentencePieceModel::IdToPiece(int id) const {
  return backend_->IdToPiece(id);
}

int SentencePieceModel::PieceToId(std::string_view piece) const {
  // SentencePiece answers the unknown token's id for unknown pieces.
  const int id = backend_->PieceToId(piece);
  return id >= 0 && backend_->IdToPiece(id) == piece ? id : -1;
}

int SentencePieceModel::bos_id() const { return backend_->bos_id(); }

int SentencePieceModel::eos_id() const { return backend_->eos_id(); }

}  // namespace loraplex::engine
