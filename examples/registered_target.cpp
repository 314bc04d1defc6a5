// A target of your own under a name, so every `scoreflow` command, config file and listing
// knows it: register it, then hand argv to the command line.
//
//   build-examples/my_scoreflow targets                    # lists student-t
//   build-examples/my_scoreflow --config examples/student_t.toml sample --out runs/t
#include <cmath>
#include <memory>

#include <scoreflow/cli.hpp>
#include <scoreflow/core/check.hpp>
#include <scoreflow/targets/registry.hpp>

namespace {

// Product of d independent Student-t coordinates with ν degrees of freedom.
class StudentT : public sf::RowwiseTarget<StudentT> {
 public:
  StudentT(std::size_t d, double nu) : d_(d), nu_(nu) {}
  std::string spec() const override {
    return "student-t:d=" + std::to_string(d_) + ",nu=" + std::to_string(nu_);
  }
  std::size_t dim() const override { return d_; }
  double log_density_row(const double* x) const {
    double lp = 0;
    for (std::size_t j = 0; j < d_; ++j) lp -= 0.5 * (nu_ + 1) * std::log1p(x[j] * x[j] / nu_);
    return lp;
  }
  void score_row(const double* x, double* g) const {
    for (std::size_t j = 0; j < d_; ++j) g[j] = -(nu_ + 1) * x[j] / (nu_ + x[j] * x[j]);
  }

 private:
  std::size_t d_;
  double nu_;
};

}  // namespace

int main(int argc, char** argv) {
  sf::target_registry().add({"student-t", "d=2, nu=5",
                             "independent Student-t coordinates (a user's target)",
                             [](const sf::Spec& s) -> std::unique_ptr<sf::Target> {
                               s.allow_only({"d", "nu"});
                               const double nu = s.number("nu", 5);
                               sf::check_positive_finite("student-t", "nu", nu);
                               return std::make_unique<StudentT>(s.count("d", 2), nu);
                             }});
  return sf::cli_main(argc, argv);
}
