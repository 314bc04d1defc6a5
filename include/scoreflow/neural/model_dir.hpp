// A trained model directory, as `scoreflow train` writes it: model.json (the network's
// config and training metadata) and model.pt (the weights).
#pragma once

#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include <scoreflow/neural/score_net.hpp>

namespace sf {

struct LoadedModel {
  std::shared_ptr<ScoreNetImpl> net;  // in eval mode
  nlohmann::json meta;                // model.json: "net" holds the NetConfig
};

// Writes model.pt (atomically: a temporary file, then a rename) and model.json.
void write_model(const std::filesystem::path& dir, ScoreNetImpl& net, const nlohmann::json& meta);
// Throws IoError when `dir` is not a model directory and FormatError when the weights are
// missing, truncated or of another network.
LoadedModel load_model(const std::filesystem::path& dir);

}  // namespace sf
