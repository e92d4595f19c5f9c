// sparkplug's generic Glue jar runner: one script for every Glue batch, so that no batch needs a launch script of
// its own. It runs the main class of a jar on the class path (`--extra-jars`) inside Glue's Job.init / Job.commit.
//
// Job arguments (sparkplug's plan sets them; see docs/catalog.md, "Glue jobs"):
//   --class                 SparkplugJarRunner (this object)
//   --extra-jars            s3://…/your-batch.jar
//   --sparkplug_main_class  com.example.Main
//   --sparkplug_args        the main class's arguments, as a JSON array of strings: ["--date","2026-11-27"]
//   --sparkplug_run         the sparkplug run name (for the logs, and so that a retried start finds its run)
//
// Upload it to the location the template's GlueScriptLocation parameter names:
//   aws s3 cp glue/SparkplugJarRunner.scala s3://<artifacts bucket>/sparkplug/SparkplugJarRunner.scala

import com.amazonaws.services.glue.GlueContext
import com.amazonaws.services.glue.util.{GlueArgParser, Job}
import com.fasterxml.jackson.databind.ObjectMapper
import java.lang.reflect.{InvocationTargetException, Modifier}
import org.apache.spark.SparkContext
import scala.collection.JavaConverters._

object SparkplugJarRunner {
  def main(sysArgs: Array[String]): Unit = {
    val options = GlueArgParser.getResolvedOptions(
      sysArgs,
      Array("JOB_NAME", "sparkplug_main_class", "sparkplug_args", "sparkplug_run")
    )
    val mainClassName = options("sparkplug_main_class")
    val args = parseArgs(options("sparkplug_args"))

    val glueContext = new GlueContext(SparkContext.getOrCreate())
    Job.init(options("JOB_NAME"), glueContext, options.asJava)
    println(s"sparkplug: run ${options("sparkplug_run")}: $mainClassName ${args.mkString(" ")}")

    val mainMethod = Class.forName(mainClassName).getMethod("main", classOf[Array[String]])
    if (!Modifier.isStatic(mainMethod.getModifiers)) {
      throw new IllegalArgumentException(s"$mainClassName.main is not static: is it a Scala object or a Java class?")
    }
    try {
      mainMethod.invoke(null, args)
    } catch {
      // Surface the batch's own exception as the run's ErrorMessage, not the reflection wrapper.
      case e: InvocationTargetException => throw e.getCause
    }
    Job.commit()
  }

  private def parseArgs(json: String): Array[String] =
    if (json == null || json.trim.isEmpty) Array.empty
    else new ObjectMapper().readValue(json, classOf[Array[String]])
}
