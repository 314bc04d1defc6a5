#include <scoreflow/neural/model_dir.hpp>

#include <sstream>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>

namespace sf {
namespace fs = std::filesystem;

void write_model(const fs::path& dir, ScoreNetImpl& net, const nlohmann::json& meta) {
  torch::serialize::OutputArchive archive;
  net.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(dir / "model.pt", bytes.str());
  write_json(dir / "model.json", meta);
}

LoadedModel load_model(const fs::path& dir) {
  if (!fs::exists(dir / "model.json"))
    throw IoError(fmt::format(
        "'{}' is not a trained model directory (no model.json); run `scoreflow train` first",
        dir.string()));
  LoadedModel m;
  m.meta = read_json(dir / "model.json");
  const auto cfg = NetConfig::from_json(m.meta.at("net"));
  m.net = make_score_net(cfg, 0);  // the weights come from the checkpoint
  try {
    torch::serialize::InputArchive archive;
    archive.load_from((dir / "model.pt").string());
    m.net->load(archive);
  } catch (const c10::Error& e) {
    throw FormatError(fmt::format("'{}' is missing, truncated or not this model's weights: {}",
                                  (dir / "model.pt").string(), e.what_without_backtrace()));
  }
  m.net->eval();
  return m;
}

}  // namespace sf
