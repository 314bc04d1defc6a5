#include <scoreflow/plot/plot.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/targets/registry.hpp>
#include <scoreflow/targets/tempered.hpp>

namespace sf {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kGrid = 160;

bool gnuplot_available() {
  static const bool ok = std::system("command -v gnuplot >/dev/null 2>&1") == 0;
  return ok;
}

// Target density on a grid over its plot box, as "x y p" blocks for `with image`.
void write_density_grid(const Target& t, const fs::path& file, std::array<double, 4> box) {
  Particles g(kGrid * kGrid, 2);
  for (std::size_t i = 0; i < kGrid; ++i)
    for (std::size_t j = 0; j < kGrid; ++j) {
      g(i * kGrid + j, 0) = box[0] + (box[1] - box[0]) * (static_cast<double>(j) + 0.5) / kGrid;
      g(i * kGrid + j, 1) = box[2] + (box[3] - box[2]) * (static_cast<double>(i) + 0.5) / kGrid;
    }
  std::vector<double> lp(g.n());
  t.log_density(g.rows(), lp);
  const double m = *std::max_element(lp.begin(), lp.end());
  std::string s;
  for (std::size_t i = 0; i < kGrid; ++i) {
    for (std::size_t j = 0; j < kGrid; ++j) {
      const std::size_t r = i * kGrid + j;
      s += fmt::format("{} {} {}\n", g(r, 0), g(r, 1), std::exp(lp[r] - m));
    }
    s += '\n';
  }
  write_file_atomic(file, s);
}

// "x y [size]" rows; with weights the third column is a point size ∝ √(N w).
void write_points(const NpyArray& a, const fs::path& file, const std::vector<double>& w = {}) {
  const std::size_t d = a.shape.size() > 1 ? a.shape[1] : 1;
  std::string s;
  for (std::size_t i = 0; i < a.shape[0]; ++i) {
    for (std::size_t k = 0; k < std::min<std::size_t>(d, 2); ++k)
      s += fmt::format("{} ", a.values[i * d + k]);
    if (!w.empty()) s += fmt::format("{}", 0.25 * std::sqrt(static_cast<double>(w.size()) * w[i]));
    s += '\n';
  }
  write_file_atomic(file, s);
}

// Weights saved beside a positions file (x.npy -> x.weights), if any.
std::vector<double> weights_beside(fs::path samples) {
  samples.replace_extension(".weights");
  return fs::exists(samples) ? read_npy(samples).values : std::vector<double>{};
}

// Scatter of points with fixed or weight-scaled size.
std::string points_clause(const fs::path& pts, bool weighted, const char* size) {
  return fmt::format("'{}' using 1:2{} with points pt 7 ps {} lc rgb '#d62728' notitle\n",
                     pts.string(), weighted ? ":3" : "", weighted ? "variable" : size);
}

// 1-D: the target density normalised on a grid, for the histogram overlay.
void write_density_curve(const Target& t, const fs::path& file, double lo, double hi) {
  Particles g(400, 1);
  for (std::size_t i = 0; i < 400; ++i) g(i, 0) = lo + (hi - lo) * static_cast<double>(i) / 399;
  std::vector<double> lp(400);
  t.log_density(g.rows(), lp);
  const double m = *std::max_element(lp.begin(), lp.end());
  double z = 0;
  for (double& v : lp) z += (v = std::exp(v - m)) * (hi - lo) / 399;
  std::string s;
  for (std::size_t i = 0; i < 400; ++i) s += fmt::format("{} {}\n", g(i, 0), lp[i] / z);
  write_file_atomic(file, s);
}

std::vector<fs::path> snapshot_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (fs::exists(dir / "snapshots"))
    for (const auto& e : fs::directory_iterator(dir / "snapshots"))
      if (e.path().extension() == ".npy") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::size_t step_of(const fs::path& snapshot) {
  const std::string s = snapshot.stem().string();
  return static_cast<std::size_t>(std::stoull(s.substr(s.find('_') + 1)));
}

std::string particles_2d_script(const fs::path& plots, const std::vector<fs::path>& snaps,
                                const Target& t, const std::string& title) {
  const auto box = t.plot_box();
  const bool density = t.dim() == 2;
  if (density) write_density_grid(t, plots / "density.dat", box);
  std::string gp = fmt::format(
      "set terminal pngcairo size {},420 font ',10' noenhanced\nset output '{}'\nset multiplot "
      "layout 1,{} title '{}'\n"
      "unset colorbox\nset palette defined (0 'white', 1 '#c6dbef', 2 '#2171b5')\nset size ratio "
      "-1\n"
      "set xrange [{}:{}]\nset yrange [{}:{}]\n",
      380 * snaps.size(), (plots / "particles.png").string(), snaps.size(), title, box[0], box[1],
      box[2], box[3]);
  for (std::size_t k = 0; k < snaps.size(); ++k) {
    const fs::path pts = plots / fmt::format("snap{}.dat", k);
    const auto w = weights_beside(snaps[k]);
    write_points(read_npy(snaps[k]), pts, w);
    gp += fmt::format("set title 'step {}'\nplot ", step_of(snaps[k]));
    if (density) gp += fmt::format("'{}' with image notitle, ", (plots / "density.dat").string());
    gp += points_clause(pts, !w.empty(), "0.25");
  }
  return gp + "unset multiplot\n";
}

std::string histogram_1d_script(const fs::path& plots, const fs::path& samples, const Target& t,
                                const std::string& title) {
  const NpyArray a = read_npy(samples);
  const auto [lo_it, hi_it] = std::minmax_element(a.values.begin(), a.values.end());
  const auto box = t.plot_box();
  const double lo = std::min(*lo_it, box[0]), hi = std::max(*hi_it, box[1]);
  write_points(a, plots / "samples.dat");
  write_density_curve(t, plots / "density.dat", lo, hi);
  const double width = (hi - lo) / 80;
  return fmt::format(
      "set terminal pngcairo size 700,450 font ',10' noenhanced\nset output '{}'\nset title '{}'\n"
      "binwidth={}\nbin(x)=binwidth*floor(x/binwidth)+binwidth/2\nset style fill solid 0.5\n"
      "plot '{}' using (bin($1)):(1.0/({}*binwidth)) smooth freq with boxes lc rgb '#6baed6' title "
      "'samples', "
      "'{}' with lines lw 2 lc rgb '#d62728' title 'target'\n",
      (plots / "particles.png").string(), title, width, (plots / "samples.dat").string(),
      a.shape[0], (plots / "density.dat").string());
}

std::string metrics_script(const fs::path& dir, const fs::path& png) {
  const CsvTable trace = CsvTable::read(dir / "trace.csv");
  std::vector<std::size_t> cols;
  for (std::size_t c = 2; c < trace.columns().size(); ++c)
    if (std::any_of(trace.rows().begin(), trace.rows().end(),
                    [&](const auto& r) { return !std::isnan(r[c]); }))
      cols.push_back(c);
  if (cols.empty()) return "";
  // SBTM's convergence diagnostic: Fisher information next to −dKL/dt (equal for the exact
  // flow), in one extra panel.
  const auto has = [&](const std::string& name) {
    return std::any_of(cols.begin(), cols.end(),
                       [&](std::size_t c) { return trace.columns()[c] == name; });
  };
  const bool fisher_panel = has("fisher") && has("dkl_dt");
  const std::size_t panels = cols.size() + fisher_panel;
  const std::size_t per_row = std::min<std::size_t>(panels, 3), rows = (panels + 2) / 3;
  std::string gp = fmt::format(
      "set terminal pngcairo size {},{} font ',10' noenhanced\nset output '{}'\nset datafile "
      "separator ','\n"
      "set multiplot layout {},{}\nset xlabel 'step'\nset grid\n",
      380 * per_row, 320 * rows, png.string(), rows, per_row);
  for (std::size_t c : cols) {
    const auto& name = trace.columns()[c];
    const bool positive = std::all_of(trace.rows().begin(), trace.rows().end(),
                                      [&](const auto& r) { return std::isnan(r[c]) || r[c] > 0; });
    const bool log_scale =
        positive && name != "acceptance" && name != "lambda" && name != "mode_entropy";
    gp += fmt::format(
        "set title '{}'\n{}\nplot '{}' using 1:{} every ::1 with linespoints pt 7 ps 0.4 notitle\n",
        name, log_scale ? "set logscale y" : "unset logscale y", (dir / "trace.csv").string(),
        c + 1);
  }
  if (fisher_panel)
    gp += fmt::format(
        "set title 'Fisher information vs -dKL/dt'\nunset logscale y\nplot '{0}' using 1:{1} every "
        "::1 with lines "
        "lw 2 title 'Fisher', '{0}' using 1:(-${2}) every ::1 with linespoints pt 7 ps 0.3 title "
        "'-dKL/dt'\n",
        (dir / "trace.csv").string(), trace.column("fisher") + 1, trace.column("dkl_dt") + 1);
  return gp + "unset multiplot\n";
}

}  // namespace

void run_gnuplot(const fs::path& script, const std::string& text) {
  fs::create_directories(script.parent_path());
  write_file_atomic(script, text);
  if (!gnuplot_available()) {
    std::fprintf(stderr, "warning: gnuplot not found; skipped %s (install gnuplot-nox)\n",
                 script.c_str());
    return;
  }
  const std::string cmd = fmt::format("gnuplot '{}' 2>'{}.log'", script.string(), script.string());
  if (std::system(cmd.c_str()) != 0)
    std::fprintf(stderr, "warning: gnuplot failed on %s (see %s.log)\n", script.c_str(),
                 script.c_str());
}

std::vector<fs::path> plot_run(const fs::path& dir) {
  if (!fs::exists(dir / "summary.json"))
    throw IoError(fmt::format("plot: '{}' is not a run directory (no summary.json)", dir.string()));
  const auto summary = read_json(dir / "summary.json");
  if (!summary.is_object() || !summary.contains("target_spec") ||
      !summary["target_spec"].is_string())
    throw FormatError(fmt::format(
        "plot: {}/summary.json is not the summary of a `scoreflow sample` run (no target_spec)",
        dir.string()));
  const auto base = make_target(summary.at("target_spec").get<std::string>());
  const double power = summary.value("target_power", 1.0);
  const Tempered tempered(*base, power);
  const Target* target = power != 1.0 ? static_cast<const Target*>(&tempered) : base.get();
  const fs::path plots = dir / "plots";
  fs::create_directories(plots);
  const std::string title = fmt::format("{} on {}", summary["sampler_config"].value("sampler", "?"),
                                        summary["options"].value("target", "?"));
  std::vector<fs::path> written;
  const auto snaps = snapshot_files(dir);
  std::string gp = target->dim() == 1
                       ? histogram_1d_script(plots, dir / "samples.npy", *target, title)
                       : particles_2d_script(plots, snaps, *target, title);
  run_gnuplot(plots / "particles.gp", gp);
  written.push_back(plots / "particles.png");
  const std::string mg = metrics_script(dir, plots / "metrics.png");
  if (!mg.empty()) {
    run_gnuplot(plots / "metrics.gp", mg);
    written.push_back(plots / "metrics.png");
  }
  // Copies at the top level, where a person looks first.
  for (const auto& f : written)
    if (fs::exists(f)) fs::copy_file(f, dir / f.filename(), fs::copy_options::overwrite_existing);
  return written;
}

void plot_particle_panels(const Target& target, const std::vector<ParticlePanel>& panels,
                          const fs::path& png) {
  if (target.dim() != 2 || panels.empty()) return;
  const fs::path plots = png.parent_path() / "plots";
  fs::create_directories(plots);
  const auto box = target.plot_box();
  write_density_grid(target, plots / "density.dat", box);
  std::string gp = fmt::format(
      "set terminal pngcairo size {},440 font ',10' noenhanced\nset output '{}'\n"
      "set multiplot layout 1,{} title '{}'\nunset colorbox\n"
      "set palette defined (0 'white', 1 '#c6dbef', 2 '#2171b5')\nset size ratio -1\n"
      "set xrange [{}:{}]\nset yrange [{}:{}]\n",
      400 * panels.size(), png.string(), panels.size(), target.spec(), box[0], box[1], box[2],
      box[3]);
  for (std::size_t k = 0; k < panels.size(); ++k) {
    const fs::path pts = plots / fmt::format("{}_{}.dat", png.stem().string(), k);
    std::vector<double> w;
    if (!panels[k].weights.empty() && fs::exists(panels[k].weights))
      w = read_npy(panels[k].weights).values;
    write_points(read_npy(panels[k].samples), pts, w);
    gp += fmt::format("set title '{}'\nplot '{}' with image notitle, ", panels[k].title,
                      (plots / "density.dat").string());
    gp += points_clause(pts, !w.empty(), "0.2");
  }
  gp += "unset multiplot\n";
  const fs::path script = plots / (png.stem().string() + ".gp");
  run_gnuplot(script, gp);
}

void plot_comparison(const std::vector<fs::path>& runs, const std::vector<std::string>& titles,
                     const fs::path& png) {
  if (runs.empty()) return;
  const auto summary = read_json(runs[0] / "summary.json");
  const auto target = make_target(summary.at("target_spec").get<std::string>());
  std::vector<ParticlePanel> panels;
  for (std::size_t k = 0; k < runs.size(); ++k)
    panels.push_back({titles[k], runs[k] / "samples.npy", runs[k] / "weights.npy"});
  plot_particle_panels(*target, panels, png);
}

void plot_loss_curve(const fs::path& csv, const fs::path& png) {
  const CsvTable t = CsvTable::read(csv);
  const std::size_t train = t.column("train_loss"), held = t.column("heldout_loss");
  const bool positive = std::all_of(t.rows().begin(), t.rows().end(),
                                    [&](const auto& r) { return r[train] > 0 && r[held] > 0; });
  const std::string gp = fmt::format(
      "set terminal pngcairo size 640,420 font ',10' noenhanced\nset output '{}'\n"
      "set datafile separator ','\nset xlabel 'step'\nset ylabel 'loss'\nset grid\n{}\n"
      "set key top right\nplot '{}' using 1:{} every ::1 with lines lw 2 title 'train (mean since "
      "last record)', '' using 1:{} every ::1 with linespoints pt 7 ps 0.5 title 'held-out "
      "(EMA)'\n",
      png.string(), positive ? "set logscale y" : "", csv.string(), train + 1, held + 1);
  const fs::path script = png.parent_path() / "plots" / (png.stem().string() + ".gp");
  run_gnuplot(script, gp);
}

void plot_score_estimate(const fs::path& csv, std::size_t d, const fs::path& png,
                         const ScorePlotLabels& labels) {
  const CsvTable t = CsvTable::read(csv);
  const bool ref = t.has("reference0");
  const auto col = [&](const std::string& name) { return t.column(name) + 1; };
  std::string gp = fmt::format(
      "set terminal pngcairo size 720,{} font ',10' noenhanced\nset output '{}'\n"
      "set datafile separator ','\nset grid\nset key top right\n",
      d == 1 ? 460 : 720, png.string());
  if (d == 1) {
    gp += fmt::format(
        "set xlabel 'y'\nset ylabel 'score d/dy log p_T(y)'\n"
        "plot '{0}' every ::1 using 1:(${1}-2*${2}):(${1}+2*${2}) with filledcurves "
        "fc rgb '#c6dbef' title '±2 standard errors', '' every ::1 using 1:{1} with lines lw 2 "
        "lc rgb '#2171b5' title '{4}'{3}\n",
        csv.string(), col("score0"), col("se0"),
        ref ? fmt::format(", '' every ::1 using 1:{} with lines lw 2 dt 2 lc rgb '#cb181d' "
                          "title '{}'",
                          col("reference0"), labels.reference)
            : "",
        labels.method);
  } else {
    // Arrows scaled so the longest spans about one and a half grid cells.
    double longest = 0, lo = INFINITY, hi = -INFINITY;
    for (const auto& r : t.rows()) {
      longest = std::max(longest, std::hypot(r[col("score0") - 1], r[col("score1") - 1]));
      lo = std::min(lo, r[0]), hi = std::max(hi, r[0]);
    }
    const double scale = 1.5 * (hi - lo) / std::sqrt(static_cast<double>(t.rows().size())) /
                         std::max(longest, 1e-12);
    gp += fmt::format(
        "set size ratio -1\nset xlabel 'y0'\nset ylabel 'y1'\n"
        "plot '{0}' every ::1 using 1:2:({1}*${2}):({1}*${3}) with vectors head filled lw 1.5 "
        "lc rgb '#2171b5' title '{5}'{4}\n",
        csv.string(), scale, col("score0"), col("score1"),
        ref ? fmt::format(", '' every ::1 using 1:2:({0}*${1}):({0}*${2}) with vectors nohead "
                          "lw 1 dt 2 lc rgb '#cb181d' title '{3}'",
                          scale, col("reference0"), col("reference1"), labels.reference)
            : "",
        labels.method);
  }
  const fs::path script = png.parent_path() / "plots" / (png.stem().string() + ".gp");
  run_gnuplot(script, gp);
}

void plot_heat_ball_estimate(const fs::path& csv, const fs::path& png,
                             const std::string& reference) {
  const CsvTable t = CsvTable::read(csv);
  const auto col = [&](const std::string& name) { return t.column(name) + 1; };
  std::string gp = fmt::format(
      "set terminal pngcairo size 1200,400 font ',10' noenhanced\nset output '{}'\n"
      "set datafile separator ','\nset grid\nset key top right\nset xlabel 'x'\n"
      "set multiplot layout 1,3 title 'heat-ball mean-value estimates (±2 standard errors)'\n",
      png.string());
  const auto panel = [&](const std::string& title, const std::string& value, const std::string& se,
                         const std::string& ref) {
    gp += fmt::format(
        "set title '{4}'\nplot '{0}' every ::1 using 1:(${1}-2*${2}):(${1}+2*${2}) with "
        "filledcurves fc rgb '#c6dbef' notitle, '' every ::1 using 1:{1} with lines lw 2 lc rgb "
        "'#2171b5' title 'heat ball'{3}\n",
        csv.string(), col(value), col(se),
        t.has(ref) ? fmt::format(", '' every ::1 using 1:{} with lines lw 2 dt 2 lc rgb '#cb181d' "
                                 "title '{}'",
                                 col(ref), reference)
                   : "",
        title);
  };
  panel("density p(x, t)", "density", "density_se", "ref_density");
  panel("score d/dx log p(x, t)", "score0", "se0", "reference0");
  panel("log-density log p(x, t)", "log_density", "log_density_se", "ref_log_density");
  gp += "unset multiplot\n";
  const fs::path script = png.parent_path() / "plots" / (png.stem().string() + ".gp");
  run_gnuplot(script, gp);
}

void plot_points_over_data(const fs::path& generated, const fs::path& data,
                           const std::string& title, const fs::path& png) {
  const fs::path plots = png.parent_path() / "plots";
  fs::create_directories(plots);
  const auto gen = read_npy(generated), ref = read_npy(data);
  write_points(gen, plots / "generated.dat");
  write_points(ref, plots / "data.dat");
  // A common square box from the data's range, so the two panels compare directly.
  double lo = INFINITY, hi = -INFINITY;
  for (std::size_t i = 0; i < ref.shape[0] * 2; ++i)
    lo = std::min(lo, ref.values[i]), hi = std::max(hi, ref.values[i]);
  const double pad = 0.1 * (hi - lo);
  const std::string gp = fmt::format(
      "set terminal pngcairo size 900,460 font ',10' noenhanced\nset output '{}'\n"
      "set multiplot layout 1,2 title '{}'\nset size ratio -1\nset xrange [{}:{}]\nset yrange "
      "[{}:{}]\n"
      "set title 'generated'\nplot '{}' with dots lc rgb '#2171b5' notitle\n"
      "set title 'held-out data'\nplot '{}' with dots lc rgb '#636363' notitle\nunset multiplot\n",
      png.string(), title, lo - pad, hi + pad, lo - pad, hi + pad,
      (plots / "generated.dat").string(), (plots / "data.dat").string());
  const fs::path script = plots / (png.stem().string() + ".gp");
  run_gnuplot(script, gp);
}

void plot_image_grid(const fs::path& images, std::size_t side, std::size_t rows,
                     const std::string& title, const fs::path& png) {
  const auto a = read_npy(images);
  const std::size_t pixels = side * side;
  if (a.shape.size() != 2 || a.shape[1] != pixels)
    throw FormatError(
        fmt::format("plot: '{}' does not hold {}×{} images", images.string(), side, side));
  const std::size_t count = std::min(a.shape[0], rows * rows), cols = rows, gap = 1;
  const std::size_t width = cols * (side + gap),
                    height = ((count + cols - 1) / cols) * (side + gap);
  std::vector<double> canvas(width * height, 0.35);  // grey gaps
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t r0 = (k / cols) * (side + gap), c0 = (k % cols) * (side + gap);
    for (std::size_t i = 0; i < side; ++i)
      for (std::size_t j = 0; j < side; ++j)
        canvas[(r0 + i) * width + c0 + j] =
            std::clamp(0.5 * (a.values[k * pixels + i * side + j] + 1), 0.0, 1.0);
  }
  const fs::path plots = png.parent_path() / "plots";
  fs::create_directories(plots);
  std::string m;
  for (std::size_t i = height; i-- > 0;) {  // gnuplot's matrix rows go upwards
    for (std::size_t j = 0; j < width; ++j) m += fmt::format("{:.3f} ", canvas[i * width + j]);
    m += '\n';
  }
  write_file_atomic(plots / "grid.dat", m);
  const std::string gp = fmt::format(
      "set terminal pngcairo size {},{} font ',10' noenhanced\nset output '{}'\nset title '{}'\n"
      "unset border\nunset tics\nunset colorbox\nset palette gray\nset cbrange [0:1]\n"
      "set size ratio -1\nset xrange [-0.5:{}]\nset yrange [-0.5:{}]\n"
      "plot '{}' matrix with image notitle\n",
      std::max<std::size_t>(360, 10 * width), std::max<std::size_t>(380, 10 * height + 40),
      png.string(), title, width - 0.5, height - 0.5, (plots / "grid.dat").string());
  const fs::path script = plots / (png.stem().string() + ".gp");
  run_gnuplot(script, gp);
}

void plot_paths(const fs::path& trajectory, double dt, const std::string& title,
                const fs::path& png) {
  const auto a = read_npy(trajectory);
  if (a.shape.size() != 3)
    throw FormatError(fmt::format("'{}' is not a frames × m × d array", trajectory.string()));
  const std::size_t frames = a.shape[0], m = a.shape[1], d = a.shape[2];
  const fs::path plots = png.parent_path() / "plots";
  fs::create_directories(plots);
  std::string data;  // one block per particle, blank lines between blocks
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t f = 0; f < frames; ++f) {
      const double* p = a.values.data() + (f * m + i) * d;
      data += d == 1 ? fmt::format("{} {}\n", static_cast<double>(f) * dt, p[0])
                     : fmt::format("{} {}\n", p[0], p[1]);
    }
    data += "\n\n";
  }
  write_file_atomic(plots / "paths.dat", data);
  const std::string gp = fmt::format(
      "set terminal pngcairo size 720,520 font ',10' noenhanced\nset output '{}'\nset title "
      "'{}'\nset grid\n"
      "{}\nplot '{}' using 1:2 with lines lw 0.6 lc rgb '#2171b5' notitle\n",
      png.string(), title,
      d == 1 ? "set xlabel 't'\nset ylabel 'x'"
             : "set size ratio -1\nset xlabel 'x1'\nset ylabel 'x2'",
      (plots / "paths.dat").string());
  run_gnuplot(plots / "paths.gp", gp);
}

}  // namespace sf
