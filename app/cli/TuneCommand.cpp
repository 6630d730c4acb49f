// `vqa tune`: the kernels this CPU runs bfloat16 with (a bfloat16 model, and the "fast"
// precision's vision tower) and a float32 prompt's products with, as the engine chooses them at
// load (engine/CpuTuning.h): from the environment, from this CPU's record, or measured now;
// `--again` measures them again.
#include <initializer_list>
#include <iostream>
#include <sstream>
#include <utility>

#include "app/cli/Command.h"
#include "engine/CpuTuning.h"

namespace {

struct TuneOptions {
    bool again = false;
    bool json = false;
    int threads = 0;
};

// "half (measured: native 16.1 ms, widened 11.3 ms, half 5.7 ms)": the ways not measured left out.
std::string choiceLine(const std::string& choice, const std::string& source,
                       std::initializer_list<std::pair<const char*, double>> ways) {
    std::ostringstream out;
    out.precision(3);
    out << choice << " (" << source;
    const char* sep = ": ";
    for (const auto& [name, ms] : ways)
        if (ms > 0) {
            out << sep << name << " " << ms << " ms";
            sep = ", ";
        }
    out << ")";
    return out.str();
}

int runTune(const TuneOptions& opts) {
    vqa::useCpuThreads(opts.threads);
    const auto file = vqa::defaultCpuTuningFile();
    const auto t = vqa::tuneCpuKernels(file, vqa::machineBusy,
                                       opts.again ? vqa::TuneFrom::Measure : vqa::TuneFrom::RecordOrMeasure);
    if (opts.json) {
        auto out = vqa::choicesJson(t);
        out.update({{"cpu", t.cpu},
                    {"key", t.key},
                    {"file", file.string()},
                    {"busy", t.busy},
                    {"source", t.source},
                    {"attention_source", t.attention_source},
                    {"f32_rows_source", t.f32_rows_source}});
        std::cout << out.dump() << "\n";
        return 0;
    }
    std::cout << "CPU: " << t.cpu << (t.threads > 0 ? ", measured with " + std::to_string(t.threads) + " threads" : "")
              << "\n"
              << "bfloat16 products of many rows: " << choiceLine(t.bf16_kernels, t.source,
                                                                {{"native", t.native_ms},
                                                                 {"widened", t.widened_ms},
                                                                 {"half", t.half_ms}}) << "\n"
              << "an image's attention: " << choiceLine(t.bf16_attention, t.attention_source,
                                                        {{"native", t.attention_native_ms},
                                                         {"widened", t.attention_widened_ms},
                                                         {"ours", t.attention_ours_ms}})
              << "\n"
              << "float32 products of a few rows (a prompt): " << choiceLine(t.f32_rows, t.f32_rows_source,
                                                                  {{"native", t.f32_native_ms}, {"ours", t.f32_ours_ms}})
              << "\n"
              << "  native: LibTorch's kernels (bfloat16, or float32 for a prompt); widened: its float32 ones on\n"
              << "  operands widened from bfloat16; half: our float16 GEMM (AVX512-FP16); ours: our attention, our\n"
              << "  float32 product of a few rows (AVX-512)\n";
    if (t.busy)
        std::cout << "Measured while other work competed for the cores: used by this run only, not recorded. Run "
                     "`vqa tune --again` when the machine is quiet.\n";
    else if (t.source == "measured" || t.attention_source == "measured" || t.f32_rows_source == "measured")
        std::cout << "Recorded in " << file.string() << "\n";
    else if (t.source == "recorded")
        std::cout << "As recorded in " << file.string() << " (`vqa tune --again` measures again)\n";
    return 0;
}

void setupTune(CLI::App& app, int& exit_code) {
    auto opts = std::make_shared<TuneOptions>();
    auto* cmd = app.add_subcommand(
        "tune", "Show the kernels this CPU runs bfloat16 and a float32 prompt with, measured once and recorded; --again "
        "measures them again");
    cmd->add_flag("--again", opts->again,
                  "Measure them again now and record that in place of what was recorded (on a quiet machine)");
    cmd->add_option("--threads", opts->threads, "CPU threads to measure with (0: one a core, the default)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", opts->json, "Print one JSON object");
    cmd->callback([opts, &exit_code] { vqa::cli::guarded(exit_code, [&] { return runTune(*opts); }); });
}

}  // namespace

VQA_CLI_COMMAND("tune", setupTune);
