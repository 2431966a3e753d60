using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace PciKit.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        // Job: 3 warmup + 10 measured iterations instead of BenchmarkDotNet's default (6–50 adaptive iterations).
        // Each benchmark is a tight, allocation-free loop of OperationsPerInvoke accesses, so its distribution is
        // narrow and 10 iterations already give a small Error; this keeps the whole suite (14 benchmarks, one
        // process each) at a few minutes on a 2-core machine. ShortRun (3 iterations) was too noisy for ±1 ns on
        // a shared 2-core VM, and the full default job would take roughly 3× longer without changing the verdicts.
        // DefaultConfig already contains MarkdownExporter.GitHub (BenchmarkDotNet.Artifacts/results/*-report-github.md);
        // adding it again only produces a "MarkdownExporter-github is already present" warning. The check below keeps
        // the GitHub export explicit. Median is shown next to Mean because a shared 2-core machine is noisy, and the
        // summaries of both classes are joined into one table.
        var config = DefaultConfig.Instance
            .AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(StatisticColumn.Median)
            .WithOptions(ConfigOptions.JoinSummary);
        if (!config.GetExporters().Contains(MarkdownExporter.GitHub)) config = config.AddExporter(MarkdownExporter.GitHub);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
