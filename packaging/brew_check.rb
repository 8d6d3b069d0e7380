# frozen_string_literal: true

# packaging/brew_check.rb FORMULA ASSETS_DIR: runs a generated Homebrew formula
# without Homebrew, on this machine: checks every url/sha256 pair against the
# release assets in ASSETS_DIR, installs this platform's binary as `install`
# would, checks the `service do` block, and runs the `test do` block. Only the
# parts of Homebrew's DSL that lmcp.rb uses are provided; anything else fails.
require "digest"
require "fileutils"
require "open3"
require "pathname"
require "socket"
require "tmpdir"

formula_file, assets = ARGV
abort "usage: ruby packaging/brew_check.rb dist/brew/lmcp.rb dist" unless formula_file && assets

HOST_OS = RUBY_PLATFORM.include?("darwin") ? :macos : :linux
HOST_CPU = RUBY_PLATFORM.match?(/arm64|aarch64/) ? :arm : :intel

# Pathname with Homebrew's `install(src => dst)`.
class Keg < Pathname
  def install(spec)
    mkpath
    spec.each do |src, dst|
      FileUtils.cp(src, join(dst))
      File.chmod(0o755, join(dst))
    end
  end

  def /(other) = Keg.new(join(other.to_s))
end

# Records what `service do` sets.
class ServiceSpec
  attr_reader :settings

  def initialize(formula)
    @formula = formula
    @settings = {}
  end

  %i[run keep_alive process_type environment_variables log_path error_log_path working_dir].each do |name|
    define_method(name) { |*args, **kw| @settings[name] = kw.empty? ? args.first : kw }
  end

  def method_missing(name, ...) = @formula.respond_to?(name) ? @formula.public_send(name, ...) : super
  def respond_to_missing?(name, all = false) = @formula.respond_to?(name) || super
end

# The class-level DSL of a formula, and the helpers its blocks call.
class Formula
  class << self
    attr_reader :downloads, :service_block, :test_block, :meta

    def desc(text) = (@meta ||= {})[:desc] = text
    def homepage(url) = (@meta ||= {})[:homepage] = url
    def license(name) = (@meta ||= {})[:license] = name
    def version(v = nil) = v ? ((@meta ||= {})[:version] = v) : @meta[:version]

    def scoped(key, value)
      saved = instance_variable_get(key)
      instance_variable_set(key, value)
      yield
    ensure
      instance_variable_set(key, saved)
    end

    def on_macos(&) = scoped(:@os, :macos, &)
    def on_linux(&) = scoped(:@os, :linux, &)
    def on_arm(&) = scoped(:@cpu, :arm, &)
    def on_intel(&) = scoped(:@cpu, :intel, &)
    def url(u) = ((@downloads ||= {})[[@os, @cpu]] ||= {})[:url] = u
    def sha256(s) = ((@downloads ||= {})[[@os, @cpu]] ||= {})[:sha256] = s
    def service(&block) = @service_block = block
    def test(&block) = @test_block = block
  end

  attr_reader :prefix, :testpath

  def initialize(prefix, testpath)
    @prefix = prefix
    @testpath = testpath
  end

  def version = self.class.version
  def bin = Keg.new(prefix.join("bin"))
  def opt_bin = bin
  def var = Keg.new(prefix.join("var"))
  def std_service_path_env = "#{prefix}/bin:/usr/bin:/bin:/usr/sbin:/sbin"

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def shell_output(cmd, result = 0)
    out, status = Open3.capture2("/bin/sh", "-c", cmd)
    raise "`#{cmd}` exited #{status.exitstatus}, expected #{result}:\n#{out}" unless status.exitstatus == result

    out
  end

  def system(*args) = Kernel.system(*args.map(&:to_s)) || raise("#{args.join(" ")} failed")
  def quiet_system(*args) = Kernel.system(*args.map(&:to_s), out: File::NULL, err: File::NULL)
  def spawn(*args) = Process.spawn(*args.map { |a| a.is_a?(Pathname) ? a.to_s : a })

  def assert_match(expected, actual)
    pattern = expected.is_a?(Regexp) ? expected : Regexp.new(Regexp.escape(expected))
    raise "expected #{actual.inspect} to match #{pattern.inspect}" unless actual.match?(pattern)
  end

  def assert_equal(expected, actual)
    raise "expected #{expected.inspect}, got #{actual.inspect}" unless expected == actual
  end
end

load formula_file
klass = Object.const_get(File.basename(formula_file, ".rb").capitalize)
checks = 0

# Every platform's download: a release asset with its real sha256.
%i[macos linux].product(%i[arm intel]).each do |platform|
  download = klass.downloads[platform] or abort "no url for #{platform.join("/")}"
  file = File.join(assets, File.basename(download[:url]))
  abort "#{file} is missing" unless File.exist?(file)
  actual = Digest::SHA256.file(file).hexdigest
  abort "sha256 of #{file} is #{actual}, the formula says #{download[:sha256]}" unless actual == download[:sha256]
  checks += 1
end

Dir.mktmpdir("lmcp-brew-") do |tmp|
  prefix = Pathname.new(tmp).join("prefix")
  testpath = Pathname.new(tmp).join("test").tap(&:mkpath)
  formula = klass.new(prefix, testpath)

  # install, in a staging directory holding the download as Homebrew names it.
  stage = Pathname.new(tmp).join("stage").tap(&:mkpath)
  download = klass.downloads[[HOST_OS, HOST_CPU]]
  FileUtils.cp(File.join(assets, File.basename(download[:url])), stage)
  Dir.chdir(stage) { formula.install }
  abort "install did not make bin/lmcp" unless formula.bin.join("lmcp").executable?
  checks += 1

  service = ServiceSpec.new(formula)
  service.instance_exec(&klass.service_block)
  run = service.settings[:run]
  abort "service runs #{run.inspect}, not lmcp serve" unless run.map(&:to_s) == [formula.opt_bin.join("lmcp").to_s, "serve"]
  checks += 1

  env = { "HOME" => testpath.to_s }
  saved = ENV.to_h
  ENV.update(env)
  begin
    Dir.chdir(testpath) { formula.instance_exec(&klass.test_block) }
  ensure
    ENV.replace(saved)
  end
  checks += 1
end

puts "brew_check: #{formula_file}: #{checks} checks passed (4 downloads, install, service, test do)"
